import { useMemo, useState } from 'react';
import { table } from '../data';

type Row = (typeof table.rows)[number];
type Key = keyof Row;

export default function DataTable() {
  const [query, setQuery] = useState('');
  const [sortKey, setSortKey] = useState<Key>('name');
  const [ascending, setAscending] = useState(true);

  const rows = useMemo(() => {
    const needle = query.trim().toLowerCase();
    const matching = table.rows.filter((row) =>
      Object.values(row).some((value) => String(value).toLowerCase().includes(needle)),
    );
    return [...matching].sort((a, b) => {
      const order = String(a[sortKey]).localeCompare(String(b[sortKey]), undefined, {
        numeric: true,
      });
      return ascending ? order : -order;
    });
  }, [query, sortKey, ascending]);

  function sortBy(key: Key) {
    if (key === sortKey) {
      setAscending(!ascending);
    } else {
      setSortKey(key);
      setAscending(true);
    }
  }

  return (
    <section className="card" id="table" aria-labelledby="table-heading">
      <div className="row spread">
        <h2 id="table-heading">{table.heading}</h2>
        <input
          value={query}
          onChange={(event) => setQuery(event.target.value)}
          placeholder="Filter…"
          aria-label="Filter rows"
        />
      </div>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              {table.columns.map((column) => (
                <th key={column.key}>
                  <button type="button" className="ghost" onClick={() => sortBy(column.key)}>
                    {column.label}
                    {sortKey === column.key ? (ascending ? ' ▲' : ' ▼') : ''}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.name}>
                {table.columns.map((column) => (
                  <td key={column.key}>{row[column.key]}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted">
        {rows.length} of {table.rows.length} rows
      </p>
    </section>
  );
}
