//! The sliding window of the latest calls' outcomes, for the failure-rate rule and the metrics.

use super::*;

/// The outcomes of the latest `size` calls, written lock-free.
///
/// Each call takes the next slot with one `fetch_add` on a cursor (the breaker's
/// `window_cursor`, kept away from the fields every call reads). A slot is a nibble, sixteen
/// to a word: written (1 bit), the window's epoch when written (2 bits), failed (1 bit).
///
/// The `tally` word holds the epoch (bits 62..64) and how many slots of that epoch are written
/// (bits 32..62) and failed (bits 0..32), kept by the writers whose write changes a slot. When
/// the tally shows a full window without a failure, a success changes nothing the window
/// reports (it would replace a success with a success), so it writes nothing at all, the
/// cursor included: a healthy breaker's calls share no written cache line. The writer of the
/// last slot re-counts the tally from the slots when nothing moved meanwhile, so that a count
/// thrown off by a result racing a reset does not last.
///
/// Clearing (on every transition to closed) zeroes the slots and moves the epoch on; a recorder
/// reads the epoch *before* it checks that its permit is still current, so a result that races
/// a transition carries the old epoch and is not counted in the new state.
#[repr(C)]
pub(super) struct Window {
    pub(super) tally: AtomicU64,
    /// `u64::MAX / size + 1`, for a division-free `% size` (Lemire's fastmod).
    pub(super) fastmod: u64,
    pub(super) slots: Box<[AtomicU64]>,
    pub(super) size: u32,
}

pub(super) const SLOTS_PER_WORD: usize = 16;
pub(super) const SLOT_WRITTEN: u64 = 0b1000;
pub(super) const TALLY_EPOCH_SHIFT: u32 = 62;
pub(super) const TALLY_WRITTEN_SHIFT: u32 = 32;

impl Window {
    pub(super) fn new(size: u32) -> Self {
        let size = size.max(1);
        let words = (size as usize).div_ceil(SLOTS_PER_WORD);
        Self {
            size,
            fastmod: (u64::MAX / u64::from(size)).wrapping_add(1),
            tally: AtomicU64::new(0),
            slots: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    pub(super) fn slot(&self, index: u64) -> usize {
        let low = self.fastmod.wrapping_mul(u64::from(index as u32));
        ((u128::from(low) * u128::from(self.size)) >> 64) as usize
    }

    /// The tally, read before checking that the permit is current (its epoch is the one to
    /// record under).
    #[inline]
    pub(super) fn tally(&self) -> u64 {
        self.tally.load(Ordering::Acquire)
    }

    /// Whether `tally` shows a full window without a failure: a success changes nothing.
    #[inline]
    pub(super) fn all_succeeded(&self, tally: u64) -> bool {
        tally & !(0b11 << TALLY_EPOCH_SHIFT) == u64::from(self.size) << TALLY_WRITTEN_SHIFT
    }

    /// Writes the outcome of call number `index` (from the cursor) under `tally`'s epoch.
    #[inline]
    pub(super) fn record(&self, index: u64, tally: u64, failed: bool) {
        let epoch = tally >> TALLY_EPOCH_SHIFT;
        let slot = self.slot(index);
        let word = &self.slots[slot / SLOTS_PER_WORD];
        let shift = (slot % SLOTS_PER_WORD) * 4;
        let nibble = (SLOT_WRITTEN | epoch << 1 | u64::from(failed)) << shift;
        let mask = 0b1111 << shift;
        let mut current = word.load(Ordering::Relaxed);
        while current & mask != nibble {
            let next = (current & !mask) | nibble;
            match word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    self.count((current & mask) >> shift, epoch, failed);
                    break;
                }
                Err(actual) => current = actual,
            }
        }
        if slot + 1 == self.size as usize {
            self.recount(epoch);
        }
    }

    /// Moves the tally from a slot that held `old` to one that holds this epoch's outcome.
    #[cold]
    pub(super) fn count(&self, old: u64, epoch: u64, failed: bool) {
        let was_written = old & SLOT_WRITTEN != 0 && (old >> 1) & 0b11 == epoch;
        let was_failed = was_written && old & 1 == 1;
        let mut tally = self.tally.load(Ordering::Relaxed);
        loop {
            if tally >> TALLY_EPOCH_SHIFT != epoch {
                return; // cleared meanwhile: this slot is not counted in the new epoch
            }
            let mut next = tally;
            if !was_written {
                next += 1 << TALLY_WRITTEN_SHIFT;
            }
            match (was_failed, failed) {
                (false, true) => next += 1,
                // Never below zero, even with a count a race threw off (the recount mends it).
                (true, false) if next & u64::from(u32::MAX) > 0 => next -= 1,
                _ => {}
            }
            match self.tally.compare_exchange_weak(
                tally,
                next,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => tally = actual,
            }
        }
    }

    /// Sets the tally to what the slots hold, unless a writer moved it meanwhile.
    #[cold]
    pub(super) fn recount(&self, epoch: u64) {
        let tally = self.tally.load(Ordering::Acquire);
        if tally >> TALLY_EPOCH_SHIFT != epoch {
            return;
        }
        let (written, failed) = self.count_slots(epoch);
        let counted = epoch << TALLY_EPOCH_SHIFT
            | u64::from(written) << TALLY_WRITTEN_SHIFT
            | u64::from(failed);
        // Fails if a writer counted meanwhile: the next pass will do.
        let _ = self
            .tally
            .compare_exchange(tally, counted, Ordering::Release, Ordering::Relaxed);
    }

    /// (slots written in `epoch`, failed among them).
    pub(super) fn count_slots(&self, epoch: u64) -> (u32, u32) {
        const NIBBLE_LOW: u64 = 0x1111_1111_1111_1111;
        let wanted = (SLOT_WRITTEN | epoch << 1) * NIBBLE_LOW;
        let (mut total, mut failures) = (0, 0);
        for word in self.slots.iter() {
            let bits = word.load(Ordering::Relaxed);
            // Per nibble: 0 where written and epoch match (the failed bit left out)...
            let differ = (bits ^ wanted) & (0b1110 * NIBBLE_LOW);
            // ...folded onto the nibble's low bit, and inverted: 1 for a slot of this epoch.
            let matching = !(differ >> 1 | differ >> 2 | differ >> 3) & NIBBLE_LOW;
            total += matching.count_ones();
            failures += (matching & bits).count_ones();
        }
        (total, failures)
    }

    /// (calls in the window, failures among them), counting only the current epoch's slots.
    pub(super) fn snapshot(&self) -> (u32, u32) {
        self.count_slots(self.tally() >> TALLY_EPOCH_SHIFT)
    }

    /// Empties the window. Called with the transition lock held.
    pub(super) fn clear(&self) {
        let epoch = self.tally() >> TALLY_EPOCH_SHIFT;
        for word in self.slots.iter() {
            word.store(0, Ordering::Relaxed);
        }
        self.tally
            .store(((epoch + 1) & 0b11) << TALLY_EPOCH_SHIFT, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally_counts(window: &Window) -> (u32, u32) {
        let tally = window.tally();
        let written = (tally >> TALLY_WRITTEN_SHIFT) & ((1 << 30) - 1);
        let failed = tally & ((1 << TALLY_WRITTEN_SHIFT) - 1);
        (written as u32, failed as u32)
    }

    /// Every slot change is counted once with the value it replaced, so once the writers stop,
    /// the tally is what the slots hold, whatever the interleaving.
    #[test]
    fn the_tally_matches_the_slots_after_concurrent_writers() {
        let breaker = CircuitBreaker::builder("unit_tally")
            .window_size(100)
            .ignore_env()
            .build()
            .unwrap();
        breaker.disable(); // counts in the window, never opens
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let breaker = &breaker;
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let permit = breaker.try_acquire().unwrap();
                        if (i * 7 + t) % 10 == 0 {
                            permit.record_failure();
                        } else {
                            permit.record_success();
                        }
                    }
                });
            }
        });
        let window = &breaker.window;
        let epoch = window.tally() >> TALLY_EPOCH_SHIFT;
        assert_eq!(tally_counts(window), window.count_slots(epoch));
        assert_eq!(tally_counts(window).0, 100);
        for _ in 0..100 {
            breaker.try_acquire().unwrap().record_success();
        }
        assert_eq!(tally_counts(window), (100, 0));
        assert!(window.all_succeeded(window.tally()));
        let m = breaker.metrics();
        assert_eq!((m.total_calls, m.error_rate), (100, 0.0));
    }

    /// Between recounts (the last slot's write), the tally moves by each slot's change alone.
    #[test]
    fn the_tally_follows_each_overwritten_slot() {
        let window = Window::new(20);
        for index in 0..20 {
            window.record(index, window.tally(), index % 3 == 0);
        }
        assert_eq!(tally_counts(&window), (20, 7)); // failures in slots 0, 3, ..., 18
        // (slot, failed, failures in the window after it)
        let next_lap = [
            (0, false, 6),
            (1, true, 7),
            (2, false, 7),
            (3, false, 6),
            (4, true, 7),
        ];
        for (slot, failed, failures) in next_lap {
            window.record(20 + slot, window.tally(), failed);
            assert_eq!(tally_counts(&window), (20, failures), "slot {slot}");
        }
        assert_eq!(window.count_slots(0), (20, 7));
    }

    /// A result racing a reset writes its slot under the old epoch: not counted now, and the
    /// slot counts as empty for the next writer.
    #[test]
    fn a_slot_of_an_older_epoch_is_not_counted() {
        let window = Window::new(20);
        let old = window.tally();
        window.record(0, old, true);
        window.clear();
        window.record(1, old, true); // stale: epoch 0 after the clear
        assert_eq!(tally_counts(&window), (0, 0));
        assert_eq!(window.count_slots(1), (0, 0));
        window.record(21, window.tally(), false); // slot 1 again, epoch 1
        assert_eq!(tally_counts(&window), (1, 0));
        assert_eq!(window.count_slots(1), (1, 0));
    }

    #[test]
    fn a_recount_sets_the_tally_from_the_slots_unless_it_moved() {
        let window = Window::new(20);
        for index in 0..5 {
            window.record(index, window.tally(), index % 2 == 0);
        }
        assert_eq!(tally_counts(&window), (5, 3));
        // Thrown off (as a result racing a reset could): a recount puts it right.
        window
            .tally
            .store(17 << TALLY_WRITTEN_SHIFT, Ordering::Relaxed);
        window.recount(0);
        assert_eq!(tally_counts(&window), (5, 3));
        // A recount for another epoch leaves it alone.
        window
            .tally
            .store(17 << TALLY_WRITTEN_SHIFT, Ordering::Relaxed);
        window.recount(1);
        assert_eq!(tally_counts(&window), (17, 0));
        // Writing the last slot recounts.
        window.record(19, window.tally(), false);
        assert_eq!(tally_counts(&window), (6, 3));
        window.clear();
        assert_eq!(window.tally() >> TALLY_EPOCH_SHIFT, 1);
        assert_eq!(tally_counts(&window), (0, 0));
        assert_eq!(window.count_slots(1), (0, 0));
    }
}
