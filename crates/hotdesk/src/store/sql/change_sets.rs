//! Change sets, over any engine.

use super::{Engine, Sql, args, reads};
use crate::domain::{ChangeSet, ChangeSetTx, StoreResult};

impl<E: Engine> ChangeSetTx for Sql<E> {
    fn insert_change_set(&mut self, set: &ChangeSet) -> StoreResult<()> {
        self.0.execute(
            "INSERT INTO change_sets (id, owner, created_at) VALUES ($1, $2, $3)",
            args![&set.id, &set.owner, set.created_at],
        )?;
        for edit in &set.edits {
            self.stage_edit(&set.id, edit)?;
        }
        Ok(())
    }

    fn change_set(&mut self, id: &str) -> StoreResult<Option<ChangeSet>> {
        reads::change_set(&mut self.0, id)
    }

    fn lock_change_set(&mut self, id: &str) -> StoreResult<()> {
        self.0.lock("change_set", id, false)
    }

    fn stage_edit(&mut self, id: &str, edit: &str) -> StoreResult<u32> {
        // Two stagings into one set take turns, so positions do not collide; a submit waits.
        self.lock_change_set(id)?;
        self.0
            .query_one(
                "INSERT INTO change_set_edits (change_set_id, position, edit)
                 VALUES ($1, (SELECT COUNT(*) FROM change_set_edits WHERE change_set_id = $1), $2)
                 RETURNING position + 1",
                args![id, edit],
            )?
            .get()
    }

    fn remove_change_set(&mut self, id: &str) -> StoreResult<bool> {
        Ok(self
            .0
            .execute("DELETE FROM change_sets WHERE id = $1", args![id])?
            > 0)
    }
}
