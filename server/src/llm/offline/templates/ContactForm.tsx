import { useState, type FormEvent } from 'react';
import { contact } from '../data';

type Fields = { name: string; email: string; message: string };

const EMPTY: Fields = { name: '', email: '', message: '' };

export default function ContactForm() {
  const [fields, setFields] = useState<Fields>(EMPTY);
  const [error, setError] = useState('');
  const [sentTo, setSentTo] = useState<string | null>(null);

  function update(key: keyof Fields, value: string) {
    setFields((current) => ({ ...current, [key]: value }));
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!fields.name.trim() || !fields.message.trim()) {
      setError('Please fill in your name and a message.');
      return;
    }
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(fields.email)) {
      setError('Please enter a valid email address.');
      return;
    }
    // There is no backend: the message stays in the browser.
    setError('');
    setSentTo(fields.name.trim());
    setFields(EMPTY);
  }

  return (
    <section className="card" id="contact" aria-labelledby="contact-heading">
      <h2 id="contact-heading">{contact.heading}</h2>
      <p className="muted">{contact.intro}</p>
      {sentTo ? (
        <div className="notice" role="status">
          <p>Thanks, {sentTo}! {contact.thanks}</p>
          <button type="button" className="secondary" onClick={() => setSentTo(null)}>
            Send another
          </button>
        </div>
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          <label>
            Name
            <input value={fields.name} onChange={(e) => update('name', e.target.value)} />
          </label>
          <label>
            Email
            <input
              type="email"
              value={fields.email}
              onChange={(e) => update('email', e.target.value)}
            />
          </label>
          <label>
            Message
            <textarea
              rows={4}
              value={fields.message}
              onChange={(e) => update('message', e.target.value)}
            />
          </label>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <button type="submit">{contact.button}</button>
        </form>
      )}
    </section>
  );
}
