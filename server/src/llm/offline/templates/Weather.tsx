import { useState } from 'react';
import { weather } from '../data';

type Unit = 'C' | 'F';

function show(celsius: number, unit: Unit) {
  return unit === 'C' ? `${celsius}°C` : `${Math.round((celsius * 9) / 5 + 32)}°F`;
}

export default function Weather() {
  const [unit, setUnit] = useState<Unit>('C');
  const [selected, setSelected] = useState(0);
  const today = weather.days[selected];

  return (
    <section className="card" id="weather" aria-labelledby="weather-heading">
      <div className="row spread">
        <h2 id="weather-heading">{weather.heading}</h2>
        <button type="button" className="chip" onClick={() => setUnit(unit === 'C' ? 'F' : 'C')}>
          Show °{unit === 'C' ? 'F' : 'C'}
        </button>
      </div>
      <div className="today">
        <span className="icon" aria-hidden="true">
          {today.icon}
        </span>
        <div>
          <p className="clock">{show(today.high, unit)}</p>
          <p className="muted">
            {today.day} in {weather.place}: {today.summary}, low {show(today.low, unit)}
          </p>
        </div>
      </div>
      <ul className="forecast">
        {weather.days.map((day, index) => (
          <li key={day.day}>
            <button
              type="button"
              className={index === selected ? 'day active' : 'day'}
              onClick={() => setSelected(index)}
            >
              <span>{day.day}</span>
              <span aria-hidden="true">{day.icon}</span>
              <span>{show(day.high, unit)}</span>
            </button>
          </li>
        ))}
      </ul>
      <p className="muted small">{weather.note}</p>
    </section>
  );
}
