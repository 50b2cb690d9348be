//! The parent's rule for one origin's rows: each applied exactly once, in sequence order.
//!
//! The parent keeps, per origin, the last sequence number it applied (its cursor). A row at
//! or below the cursor was applied before (a retried or duplicated delivery) and is ignored;
//! the row right after the cursor is applied and moves it; a row further on means rows are
//! missing in between (a gap), so it and everything after it wait for the child to send
//! again from the cursor.

/// What to do with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Apply it (then advance the cursor to its sequence).
    Apply,
    /// Applied before: ignore.
    Duplicate,
    /// Rows are missing before it: stop here.
    Gap,
}

/// The decision for a row with sequence `seq` when the cursor stands at `cursor`.
#[must_use]
pub fn decide(cursor: i64, seq: i64) -> Decision {
    if seq <= cursor {
        Decision::Duplicate
    } else if seq == cursor + 1 {
        Decision::Apply
    } else {
        Decision::Gap
    }
}

/// Walks a delivered batch (in any order the network produced) from `cursor`: returns the
/// sequence numbers to apply, in order, and the counts of duplicates and of rows left after
/// a gap. The caller applies them and sets the cursor to the last one.
#[must_use]
pub fn plan(cursor: i64, mut seqs: Vec<i64>) -> (Vec<i64>, usize, usize) {
    seqs.sort_unstable();
    let mut at = cursor;
    let mut apply = Vec::new();
    let mut duplicates = 0;
    for (i, seq) in seqs.iter().enumerate() {
        match decide(at, *seq) {
            Decision::Apply => {
                apply.push(*seq);
                at = *seq;
            }
            Decision::Duplicate => duplicates += 1,
            Decision::Gap => return (apply, duplicates, seqs.len() - i),
        }
    }
    (apply, duplicates, 0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn in_order_once() {
        assert_eq!(plan(0, vec![1, 2, 3]), (vec![1, 2, 3], 0, 0));
        assert_eq!(plan(2, vec![1, 2, 3]), (vec![3], 2, 0), "a retried batch applies only what is new");
        assert_eq!(plan(0, vec![1, 3, 4]), (vec![1], 0, 2), "a gap stops the batch");
        assert_eq!(plan(0, vec![2, 1, 2]), (vec![1, 2], 1, 0), "a twin in one batch is a duplicate");
    }

    proptest! {
        /// Whatever the network does (deliveries duplicated, shuffled, split, partly lost),
        /// the child resending from the parent's cursor gets every row applied exactly once,
        /// in order.
        #[test]
        fn any_deliveries_apply_each_row_once_in_order(
            n in 1i64..60,
            deliveries in prop::collection::vec(prop::collection::vec(0i64..80, 0..12), 0..40),
        ) {
            let mut cursor = 0;
            let mut applied = Vec::new();
            // Whatever the network delivered first…
            for d in deliveries {
                let seqs: Vec<i64> = d.into_iter().map(|s| s % n + 1).collect();
                let (apply, _, _) = plan(cursor, seqs);
                if let Some(last) = apply.last() { cursor = *last; }
                applied.extend(apply);
            }
            // …then the child resends from the cursor until the parent has everything.
            while cursor < n {
                let (apply, _, _) = plan(cursor, ((cursor + 1)..=n).collect());
                if let Some(last) = apply.last() { cursor = *last; }
                applied.extend(apply);
            }
            prop_assert_eq!(applied, (1..=n).collect::<Vec<_>>());
        }
    }
}
