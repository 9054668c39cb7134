-- A chat turn's checkpoint is taken before the turn ("Before: …", restore
-- it to undo the turn); at the end of the turn the files as the turn left
-- them are recorded here, so the checkpoint can show what the turn changed
-- and the next checkpoint is compared with the files after it.
-- Keep in step with ../postgres/0005_checkpoint_after.sql.
ALTER TABLE checkpoints ADD COLUMN after_manifest TEXT;
