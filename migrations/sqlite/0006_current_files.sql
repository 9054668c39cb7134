-- The newest version of each path of each project, so finding it costs one
-- primary-key lookup instead of a MAX over every stored version (a save used
-- to slow down as its project's history grew). generated_files stays the
-- store of every version; this table only points into it. files::apply
-- updates the row in the same transaction as each version it inserts.
-- A deleted newest version stays here (deleted = 1): the path's next version
-- number follows it. Keep in step with ../postgres/0006_current_files.sql.
CREATE TABLE current_files (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    -- generated_files.id of the newest version. No foreign key: versions are
    -- only ever removed with their project (which removes this row too), and
    -- a key would need an index on file_id to keep project deletion fast.
    file_id    TEXT NOT NULL,
    version    BIGINT NOT NULL,
    size       BIGINT NOT NULL,
    deleted    BIGINT NOT NULL,
    PRIMARY KEY (project_id, path)
);

-- Back-fill from the history: the newest version of every path.
INSERT INTO current_files (project_id, path, file_id, version, size, deleted)
SELECT g.project_id, g.path, g.id, g.version, g.size, g.deleted
  FROM generated_files g
 WHERE g.version = (SELECT MAX(v.version) FROM generated_files v
                     WHERE v.project_id = g.project_id AND v.path = g.path);
