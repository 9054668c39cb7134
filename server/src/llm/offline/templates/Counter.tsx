import { useState } from 'react';
import { counter } from '../data';

export default function Counter() {
  const [count, setCount] = useState(0);
  const [history, setHistory] = useState<number[]>([]);

  function change(by: number) {
    setHistory((past) => [count, ...past].slice(0, 5));
    setCount(count + by);
  }

  return (
    <section className="card counter" id="counter" aria-labelledby="counter-heading">
      <h2 id="counter-heading">{counter.heading}</h2>
      <p className="clock" aria-live="polite">
        {count}
      </p>
      <p className="muted">{counter.label}</p>
      <div className="row center">
        <button type="button" className="secondary" onClick={() => change(-counter.step)}>
          − {counter.step}
        </button>
        <button type="button" onClick={() => change(counter.step)}>
          + {counter.step}
        </button>
        <button
          type="button"
          className="ghost"
          onClick={() => {
            setHistory((past) => [count, ...past].slice(0, 5));
            setCount(0);
          }}
        >
          Reset
        </button>
      </div>
      {history.length > 0 && <p className="muted">Before: {history.join(', ')}</p>}
    </section>
  );
}
