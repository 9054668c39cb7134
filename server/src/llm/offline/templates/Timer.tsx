import { useEffect, useState } from 'react';
import { timer } from '../data';

function format(seconds: number) {
  const minutes = Math.floor(seconds / 60).toString().padStart(2, '0');
  const rest = (seconds % 60).toString().padStart(2, '0');
  return `${minutes}:${rest}`;
}

export default function Timer() {
  const [length, setLength] = useState(timer.minutes * 60);
  const [left, setLeft] = useState(length);
  const [running, setRunning] = useState(false);

  useEffect(() => {
    if (!running) return;
    const id = window.setInterval(() => {
      setLeft((seconds) => Math.max(0, seconds - 1));
    }, 1000);
    return () => window.clearInterval(id);
  }, [running]);

  useEffect(() => {
    if (left === 0) setRunning(false);
  }, [left]);

  function choose(minutes: number) {
    setRunning(false);
    setLength(minutes * 60);
    setLeft(minutes * 60);
  }

  return (
    <section className="card timer" id="timer" aria-labelledby="timer-heading">
      <h2 id="timer-heading">{timer.heading}</h2>
      <p className="clock" aria-live="polite">
        {format(left)}
      </p>
      <p className="muted">{left === 0 ? timer.doneMessage : timer.label}</p>
      <div className="row center">
        <button type="button" onClick={() => setRunning((r) => !r)} disabled={left === 0}>
          {running ? 'Pause' : 'Start'}
        </button>
        <button type="button" className="secondary" onClick={() => choose(length / 60)}>
          Reset
        </button>
      </div>
      <div className="row center">
        {timer.presets.map((minutes) => (
          <button key={minutes} type="button" className="chip" onClick={() => choose(minutes)}>
            {minutes} min
          </button>
        ))}
      </div>
    </section>
  );
}
