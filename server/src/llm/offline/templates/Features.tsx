import { features } from '../data';

export default function Features() {
  return (
    <section className="card" id="features" aria-labelledby="features-heading">
      <h2 id="features-heading">{features.heading}</h2>
      <div className="grid">
        {features.items.map((item) => (
          <article key={item.title} className="feature">
            <span className="icon" aria-hidden="true">
              {item.icon}
            </span>
            <h3>{item.title}</h3>
            <p className="muted">{item.text}</p>
          </article>
        ))}
      </div>
    </section>
  );
}
