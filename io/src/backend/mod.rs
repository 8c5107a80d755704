//! The backends. Every backend provides, per queue, a type implementing
//! [`RxQueue`](crate::RxQueue) and one implementing [`TxQueue`](crate::TxQueue), and a constructor
//! that returns a [`Port`](crate::Port) of N of each. Each must:
//!
//! - never allocate, lock or panic in `rx_burst`/`tx_burst`, and make at most one syscall per
//!   burst;
//! - count every frame it drops, by [`DropReason`](crate::DropReason): a zero-length frame and a
//!   frame above the MTU on tx, a full ring, an empty pool on rx;
//! - set `meta.hash` on received packets (its own RSS hash or [`crate::flow::hash`]);
//! - name the interface or file in every setup error.
//!
//! - [`mem`]: in-process cables on SPSC rings, always built, so everything tests without a NIC.
//! - [`af_packet`]: Linux packet sockets with TPACKET_V3 mmap rings and fanout.
//! - [`pcap`]: a pcap file as an rx port, a pcap file written by a tx port.

pub mod af_packet;
pub mod mem;
pub mod pcap;

/// Shared tx-side check: a frame that no wire carries is dropped and counted here.
#[inline]
pub(crate) fn tx_reject(len: usize, max_frame: usize) -> Option<crate::DropReason> {
    if len == 0 {
        Some(crate::DropReason::Empty)
    } else if len > max_frame {
        Some(crate::DropReason::Oversize)
    } else {
        None
    }
}
