import { useState } from 'react';
import { faq } from '../data';

export default function Faq() {
  const [open, setOpen] = useState<number | null>(0);

  return (
    <section className="card" id="faq" aria-labelledby="faq-heading">
      <h2 id="faq-heading">{faq.heading}</h2>
      <ul className="faq">
        {faq.items.map((item, index) => (
          <li key={item.question}>
            <button
              type="button"
              className="question"
              aria-expanded={open === index}
              onClick={() => setOpen(open === index ? null : index)}
            >
              <span>{item.question}</span>
              <span aria-hidden="true">{open === index ? '−' : '+'}</span>
            </button>
            {open === index && <p className="muted">{item.answer}</p>}
          </li>
        ))}
      </ul>
    </section>
  );
}
