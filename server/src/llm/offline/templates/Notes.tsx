import { useEffect, useState, type FormEvent } from 'react';
import { notes } from '../data';

type Note = { id: number; text: string };

const STORAGE_KEY = 'notes';

function load(): Note[] {
  try {
    const saved = window.localStorage.getItem(STORAGE_KEY);
    return saved ? (JSON.parse(saved) as Note[]) : notes.items;
  } catch {
    return notes.items;
  }
}

export default function Notes() {
  const [items, setItems] = useState<Note[]>(load);
  const [draft, setDraft] = useState('');

  useEffect(() => {
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(items));
    } catch {
      // Storage can be full or disabled; the notes still work for this visit.
    }
  }, [items]);

  function add(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    setItems((current) => [{ id: Date.now(), text }, ...current]);
    setDraft('');
  }

  return (
    <section className="card" id="notes" aria-labelledby="notes-heading">
      <h2 id="notes-heading">{notes.heading}</h2>
      <form className="stack" onSubmit={add}>
        <textarea
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          placeholder={notes.placeholder}
          rows={3}
          aria-label="New note"
        />
        <button type="submit">Save note</button>
      </form>
      <ul className="notes">
        {items.map((note) => (
          <li key={note.id}>
            <p>{note.text}</p>
            <button
              type="button"
              className="ghost"
              onClick={() => setItems((current) => current.filter((n) => n.id !== note.id))}
              aria-label="Delete note"
            >
              ×
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
