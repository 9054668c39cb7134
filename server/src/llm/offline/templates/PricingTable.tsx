import { useState } from 'react';
import { pricing } from '../data';

export default function PricingTable() {
  const [yearly, setYearly] = useState(false);

  return (
    <section className="card" id="pricing" aria-labelledby="pricing-heading">
      <div className="row spread">
        <h2 id="pricing-heading">{pricing.heading}</h2>
        <label className="row">
          <input type="checkbox" checked={yearly} onChange={() => setYearly(!yearly)} />
          <span>Pay yearly (2 months free)</span>
        </label>
      </div>
      <div className="plans">
        {pricing.plans.map((plan) => (
          <article key={plan.name} className={plan.featured ? 'plan featured' : 'plan'}>
            <h3>{plan.name}</h3>
            <p className="price">
              {plan.monthly === 0 ? 'Free' : `$${yearly ? plan.monthly * 10 : plan.monthly}`}
              {plan.monthly > 0 && <span className="muted"> / {yearly ? 'year' : 'month'}</span>}
            </p>
            <ul>
              {plan.features.map((feature) => (
                <li key={feature}>{feature}</li>
              ))}
            </ul>
            <button type="button" className={plan.featured ? undefined : 'secondary'}>
              {plan.cta}
            </button>
          </article>
        ))}
      </div>
    </section>
  );
}
