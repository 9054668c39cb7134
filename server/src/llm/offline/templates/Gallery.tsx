import { useState } from 'react';
import { gallery } from '../data';

export default function Gallery() {
  const [open, setOpen] = useState<number | null>(null);
  const current = open === null ? null : gallery.items[open];

  return (
    <section className="card" id="gallery" aria-labelledby="gallery-heading">
      <h2 id="gallery-heading">{gallery.heading}</h2>
      <ul className="gallery">
        {gallery.items.map((item, index) => (
          <li key={item.title}>
            <button
              type="button"
              className="tile"
              style={{ background: `linear-gradient(135deg, hsl(${item.hue} 70% 60%), hsl(${(item.hue + 40) % 360} 70% 45%))` }}
              onClick={() => setOpen(index)}
            >
              <span>{item.title}</span>
            </button>
          </li>
        ))}
      </ul>
      {current && (
        <div className="lightbox" role="dialog" aria-label={current.title}>
          <div
            className="tile large"
            style={{ background: `linear-gradient(135deg, hsl(${current.hue} 70% 60%), hsl(${(current.hue + 40) % 360} 70% 45%))` }}
          />
          <div className="row spread">
            <div>
              <h3>{current.title}</h3>
              <p className="muted">{current.caption}</p>
            </div>
            <button type="button" className="secondary" onClick={() => setOpen(null)}>
              Close
            </button>
          </div>
        </div>
      )}
    </section>
  );
}
