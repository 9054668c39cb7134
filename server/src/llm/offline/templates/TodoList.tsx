import { useState, type FormEvent } from 'react';
import { todo } from '../data';

type Item = { id: number; text: string; done: boolean };

export default function TodoList() {
  const [items, setItems] = useState<Item[]>(todo.items);
  const [draft, setDraft] = useState('');

  function add(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    setItems((current) => [...current, { id: Date.now(), text, done: false }]);
    setDraft('');
  }

  function toggle(id: number) {
    setItems((current) =>
      current.map((item) => (item.id === id ? { ...item, done: !item.done } : item)),
    );
  }

  function remove(id: number) {
    setItems((current) => current.filter((item) => item.id !== id));
  }

  const left = items.filter((item) => !item.done).length;

  return (
    <section className="card" id="todos" aria-labelledby="todos-heading">
      <h2 id="todos-heading">{todo.heading}</h2>
      <form className="row" onSubmit={add}>
        <input
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          placeholder={todo.placeholder}
          aria-label="New item"
        />
        <button type="submit">Add</button>
      </form>
      <ul className="todo-list">
        {items.map((item) => (
          <li key={item.id} className={item.done ? 'done' : undefined}>
            <label>
              <input type="checkbox" checked={item.done} onChange={() => toggle(item.id)} />
              <span>{item.text}</span>
            </label>
            <button
              type="button"
              className="ghost"
              onClick={() => remove(item.id)}
              aria-label={`Delete ${item.text}`}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      <p className="muted">
        {items.length === 0 ? 'Nothing here yet.' : `${left} of ${items.length} left`}
      </p>
    </section>
  );
}
