//! The sliding window of the latest calls' outcomes, for the failure-rate rule and the metrics.

use super::*;

// In the unit tests under loom's model checker (`--cfg loom`), the window's atomics are loom's.
#[cfg(all(test, loom))]
use loom::sync::atomic::AtomicU64;

/// The outcomes of the latest `size` calls, written lock-free.
///
/// Each recorded call takes the next slot from the cursor in the breaker's state word (moved
/// in the same CAS as the call's count, wrapping at `size`). A slot is a nibble, sixteen to a
/// word: written (1 bit), the window's epoch when written (2 bits), failed (1 bit).
///
/// The `tally` word holds the epoch (bits 62..64) and how many slots of that epoch are written
/// (bits 32..62) and failed (bits 0..32). When it shows a full window without a failure, a
/// success changes nothing the window reports (it would replace a success with a success), so
/// it writes nothing at all: a healthy breaker's calls share no written cache line.
///
/// # Why the tally is exact once the writers are done
///
/// Checked by the loom model below (`loom_model`); the argument, step by step:
///
/// 1. A slot changes only by a CAS of its word, from one nibble to another, and the writer
///    whose CAS succeeded then moves the tally by exactly that change (`count`), under the
///    epoch it recorded in, if the tally is still in that epoch. Every change is counted once,
///    by one writer, with the value it really replaced, so however the writers interleave,
///    the tally is the sum of the changes: what the slots hold. Nothing re-counts the slots
///    into the tally: a recount running between a writer's CAS and its `count` would see the
///    new slot and then be moved by the same change again (a failure counted twice, or its
///    removal twice; a failure left in the slots but not in the tally would make every later
///    success skip its write, and `error_rate` stick).
/// 2. Between a writer's CAS and its `count`, the failed count may briefly be off, even
///    below zero: it wraps within its own field (never borrowing from the others), so the
///    deltas still add up. Only the full-window skip and the check whether the window holds
///    failures read the tally; a count briefly off makes them do the slower, exact thing.
/// 3. `clear` (a transition to closed, under the transition lock) zeroes the slots, then
///    moves the epoch on with the counts at zero. A result that raced the transition carries
///    the old epoch: `count` ignores it once the epoch moved, and its nibble counts as empty in
///    the new epoch. What it must not do is overwrite a slot that a writer of the new epoch
///    wrote (and counted): a writer finding a slot written in another epoch checks the tally's
///    epoch first, and if it is no longer its own, leaves the slot alone. Seeing the new
///    writer's nibble (acquire) means seeing the epoch it was written under (the new writer
///    read it, acquire, before its release CAS).
/// 4. The epoch has 2 bits: a result would have to race four transitions to closed between
///    reading the tally and writing its slot for its epoch to look current again.
#[repr(C)]
pub(super) struct Window {
    pub(super) tally: AtomicU64,
    pub(super) slots: Box<[AtomicU64]>,
    pub(super) size: u32,
}

pub(super) const SLOTS_PER_WORD: usize = 16;
pub(super) const SLOT_WRITTEN: u64 = 0b1000;
pub(super) const TALLY_EPOCH_SHIFT: u32 = 62;
pub(super) const TALLY_WRITTEN_SHIFT: u32 = 32;
/// The tally's failed count.
pub(super) const TALLY_FAILED_MASK: u64 = (1 << TALLY_WRITTEN_SHIFT) - 1;

/// The nibble of `slot` holding an outcome under `tally`'s epoch, in place in its word, and
/// the slot's mask there.
#[inline]
fn slot_bits(slot: usize, tally: u64, failed: bool) -> (u64, u64) {
    let epoch = tally >> TALLY_EPOCH_SHIFT;
    let shift = (slot % SLOTS_PER_WORD) * 4;
    let nibble = (SLOT_WRITTEN | epoch << 1 | u64::from(failed)) << shift;
    (nibble, 0b1111 << shift)
}

impl Window {
    pub(super) fn new(size: u32) -> Self {
        let size = size.max(1);
        let words = (size as usize).div_ceil(SLOTS_PER_WORD);
        Self {
            size,
            tally: AtomicU64::new(0),
            slots: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The tally, read before the permit's stamp is checked (its epoch is the one to record
    /// under).
    #[inline]
    pub(super) fn tally(&self) -> u64 {
        self.tally.load(Ordering::Acquire)
    }

    /// Whether `tally` shows a full window without a failure: a success changes nothing.
    #[inline]
    pub(super) fn all_succeeded(&self, tally: u64) -> bool {
        tally & !(0b11 << TALLY_EPOCH_SHIFT) == u64::from(self.size) << TALLY_WRITTEN_SHIFT
    }

    /// Writes an outcome in `slot` (from the cursor) under `tally`'s epoch.
    #[inline]
    pub(super) fn record(&self, slot: usize, tally: u64, failed: bool) {
        self.record_seen(slot, tally, failed, self.peek(slot));
    }

    /// The word holding `slot`, as it is now: for [`record_seen`](Self::record_seen).
    #[inline]
    pub(super) fn peek(&self, slot: usize) -> u64 {
        self.slots[slot / SLOTS_PER_WORD].load(Ordering::Acquire)
    }

    /// Whether `slot`, in its word `seen` (from [`peek`](Self::peek)), already holds this
    /// outcome under `tally`'s epoch: [`record_seen`](Self::record_seen) would write nothing.
    #[inline]
    pub(super) fn holds(&self, slot: usize, tally: u64, failed: bool, seen: u64) -> bool {
        let (nibble, mask) = slot_bits(slot, tally, failed);
        seen & mask == nibble
    }

    /// [`record`](Self::record), from `seen`, the slot's word as [`peek`](Self::peek) read it
    /// a moment ago (the breaker peeks before the CAS that takes the slot, so that the load
    /// does not wait for the CAS). A word changed since then makes the write's CAS fail and
    /// read it again. A write skipped because `seen` showed this outcome already is one that
    /// a lap-behind writer of the same slot could have overwritten even if read after the
    /// CAS: the tally counts only changes made, so it stays exact either way.
    #[inline]
    pub(super) fn record_seen(&self, slot: usize, tally: u64, failed: bool, seen: u64) {
        if !self.holds(slot, tally, failed, seen) {
            self.write(slot, tally, failed, seen);
        }
    }

    /// [`record_seen`](Self::record_seen) when the slot changes (or `seen` is out of date).
    #[inline(never)]
    fn write(&self, slot: usize, tally: u64, failed: bool, seen: u64) {
        let epoch = tally >> TALLY_EPOCH_SHIFT;
        let word = &self.slots[slot / SLOTS_PER_WORD];
        let shift = (slot % SLOTS_PER_WORD) * 4;
        let (nibble, mask) = slot_bits(slot, tally, failed);
        let mut current = seen;
        while current & mask != nibble {
            let old = (current & mask) >> shift;
            if old & SLOT_WRITTEN != 0
                && (old >> 1) & 0b11 != epoch
                && self.tally() >> TALLY_EPOCH_SHIFT != epoch
            {
                return; // cleared since: the slot may be the new epoch's (see point 3)
            }
            let next = (current & !mask) | nibble;
            match word.compare_exchange_weak(current, next, Ordering::Release, Ordering::Acquire) {
                Ok(_) => return self.count(old, epoch, failed),
                Err(actual) => current = actual,
            }
        }
    }

    /// Moves the tally by the change of one slot from `old` to this epoch's outcome.
    #[cold]
    fn count(&self, old: u64, epoch: u64, failed: bool) {
        let was_written = old & SLOT_WRITTEN != 0 && (old >> 1) & 0b11 == epoch;
        let was_failed = was_written && old & 1 == 1;
        let written = if was_written {
            0
        } else {
            1 << TALLY_WRITTEN_SHIFT
        };
        let failures: u32 = match (was_failed, failed) {
            (false, true) => 1,
            (true, false) => u32::MAX, // minus one, wrapping within the field
            _ => 0,
        };
        let mut tally = self.tally.load(Ordering::Relaxed);
        loop {
            if tally >> TALLY_EPOCH_SHIFT != epoch {
                return; // cleared meanwhile: this slot is not counted in the new epoch
            }
            let failed_count = (tally as u32).wrapping_add(failures);
            let next = ((tally & !TALLY_FAILED_MASK) + written) | u64::from(failed_count);
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

    /// (slots written in `epoch`, failed among them).
    pub(super) fn count_slots(&self, epoch: u64) -> (u32, u32) {
        const NIBBLE_LOW: u64 = 0x1111_1111_1111_1111;
        let wanted = (SLOT_WRITTEN | epoch << 1) * NIBBLE_LOW;
        let (mut total, mut failures) = (0, 0);
        for word in self.slots.iter() {
            let bits = word.load(Ordering::Acquire);
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
    ///
    /// Swaps rather than stores: a read-modify-write is ordered with the writers' CASes on the
    /// same word as loom models it (loom does not order a plain store racing a CAS the way the
    /// memory model does, tokio-rs/loom#282); on the hardware either is one instruction, and
    /// this runs only on a transition to closed.
    pub(super) fn clear(&self) {
        let epoch = self.tally() >> TALLY_EPOCH_SHIFT;
        for word in self.slots.iter() {
            word.swap(0, Ordering::Relaxed);
        }
        self.tally
            .swap(((epoch + 1) & 0b11) << TALLY_EPOCH_SHIFT, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally_counts(window: &Window) -> (u32, u32) {
        let tally = window.tally();
        let written = (tally >> TALLY_WRITTEN_SHIFT) & ((1 << 30) - 1);
        let failed = tally & TALLY_FAILED_MASK;
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

    /// The tally moves by each slot's change alone.
    #[test]
    fn the_tally_follows_each_overwritten_slot() {
        let window = Window::new(20);
        for slot in 0..20 {
            window.record(slot, window.tally(), slot % 3 == 0);
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
            window.record(slot, window.tally(), failed);
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
        window.record(1, window.tally(), false); // slot 1 again, epoch 1
        assert_eq!(tally_counts(&window), (1, 0));
        assert_eq!(window.count_slots(1), (1, 0));
    }

    /// A stale result finds a slot the new epoch wrote: it leaves it alone.
    #[test]
    fn a_stale_result_leaves_a_slot_of_the_new_epoch_alone() {
        let window = Window::new(20);
        let old = window.tally();
        window.clear();
        window.record(3, window.tally(), true);
        window.record(3, old, false); // raced the clear: epoch 0, the window is in epoch 1
        assert_eq!(tally_counts(&window), (1, 1));
        assert_eq!(window.count_slots(1), (1, 1));
    }

    /// The failed count may dip below zero between two writers' counts; it wraps within its
    /// field and comes back, the written count untouched.
    #[test]
    fn a_failed_count_below_zero_wraps_within_its_field() {
        let window = Window::new(4);
        let tally = window.tally();
        window.count(SLOT_WRITTEN | 1, 0, false); // a failure replaced, counted first
        assert_eq!(tally_counts(&window), (0, u32::MAX));
        assert!(!window.all_succeeded(window.tally()));
        window.count(0, 0, true); // the write that put the failure there
        assert_eq!(tally_counts(&window), (1, 0));
        assert_eq!(
            tally >> TALLY_EPOCH_SHIFT,
            window.tally() >> TALLY_EPOCH_SHIFT
        );
    }
}

/// The window under loom's model checker: every interleaving of two writers, or of a writer
/// and a clear, leaves the tally equal to what the slots hold once they are done.
///
/// `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p resilience --lib
/// --release loom` (a target directory of its own: the flag rebuilds every dependency).
#[cfg(all(test, loom))]
mod loom_model {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    fn tally_counts(window: &Window) -> (u32, u32) {
        let tally = window.tally();
        let written = (tally >> TALLY_WRITTEN_SHIFT) & ((1 << 30) - 1);
        let failed = tally & ((1 << TALLY_WRITTEN_SHIFT) - 1);
        (written as u32, failed as u32)
    }

    fn write(window: &Window, slot: usize, failed: bool) {
        let tally = window.tally();
        window.record(slot, tally, failed);
    }

    fn settled(window: &Window) {
        let epoch = window.tally() >> TALLY_EPOCH_SHIFT;
        assert_eq!(tally_counts(window), window.count_slots(epoch));
    }

    /// A full window (a failure in the first slot), then two writers: one replaces the failure
    /// with a success, the other writes the last slot.
    #[test]
    fn two_writers_leave_the_tally_equal_to_the_slots() {
        loom::model(|| {
            let window = Arc::new(Window::new(2));
            write(&window, 0, true);
            write(&window, 1, false);
            let other = Arc::clone(&window);
            let t = thread::spawn(move || write(&other, 0, false));
            write(&window, 1, true);
            t.join().unwrap();
            settled(&window);
        });
    }

    /// Two writers on the same slot (one a lap behind the other).
    #[test]
    fn two_writers_of_one_slot_leave_the_tally_equal_to_the_slots() {
        loom::model(|| {
            let window = Arc::new(Window::new(2));
            write(&window, 0, false);
            let other = Arc::clone(&window);
            let t = thread::spawn(move || write(&other, 0, true));
            write(&window, 0, false);
            t.join().unwrap();
            settled(&window);
        });
    }

    /// A result racing a clear (a transition to closed) and a writer of the new epoch.
    #[test]
    fn a_write_racing_a_clear_leaves_the_tally_equal_to_the_slots() {
        loom::model(|| {
            let window = Arc::new(Window::new(2));
            write(&window, 0, false);
            let other = Arc::clone(&window);
            let t = thread::spawn(move || write(&other, 0, true));
            window.clear();
            write(&window, 0, false);
            t.join().unwrap();
            settled(&window);
        });
    }
}
