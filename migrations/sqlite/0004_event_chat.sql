-- The chat whose turn published an event (NULL for the project's other
-- events), so a chat's socket (/api/chats/:id/ws) replays only its own.
ALTER TABLE events ADD COLUMN chat_id TEXT;
