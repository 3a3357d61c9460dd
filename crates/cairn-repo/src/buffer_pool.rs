//! Reusing large buffers (chunks, packs) instead of allocating a fresh one each time.
//!
//! Allocating a multi-megabyte buffer per chunk or per pack makes the allocator hand out new
//! memory that the kernel must fault in page by page, and per-thread malloc arenas keep freed
//! buffers around, inflating the resident size. A bounded pool keeps a few buffers warm and lets
//! the rest go.

use crossbeam_channel::{Receiver, Sender};

pub struct BufferPool {
    sender: Sender<Vec<u8>>,
    receiver: Receiver<Vec<u8>>,
    /// Buffers smaller than this are not worth keeping.
    capacity_min: usize,
}

impl BufferPool {
    /// A pool keeping at most `kept` buffers of at least `capacity_min` bytes.
    pub fn new(kept: usize, capacity_min: usize) -> BufferPool {
        let (sender, receiver) = crossbeam_channel::bounded(kept.max(1));
        BufferPool {
            sender,
            receiver,
            capacity_min,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        match self.receiver.try_recv() {
            Ok(mut buffer) => {
                buffer.clear();
                buffer.reserve(capacity);
                buffer
            }
            Err(_) => Vec::with_capacity(capacity),
        }
    }

    /// Returns a buffer for reuse (dropped if the pool is full or the buffer small).
    pub fn give(&self, buffer: Vec<u8>) {
        if buffer.capacity() >= self.capacity_min {
            let _ = self.sender.try_send(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_the_pool_stays_bounded() {
        let pool = BufferPool::new(2, 16);
        let mut first = pool.take(32);
        first.extend_from_slice(b"data");
        let address = first.as_ptr();
        pool.give(first);
        let again = pool.take(8);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), address, "the same allocation is reused");
        pool.give(vec![0; 4]);
        assert!(pool.take(1).capacity() < 16 || pool.receiver.is_empty());
        for _ in 0..5 {
            pool.give(Vec::with_capacity(64));
        }
        assert_eq!(pool.receiver.len(), 2);
    }
}
