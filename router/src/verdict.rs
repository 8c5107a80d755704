//! What the data path decides for each packet: a value, never an error or a panic.

use std::fmt;

/// Why the data path dropped a packet. Each reason is a counter (`brick_drops_total{reason=..}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than an Ethernet header, or an IPv4 header that does not fit (RFC 1812 5.2.2).
    Truncated,
    /// Version field not 4.
    BadVersion,
    /// IHL below 5 or total length inconsistent with the header or the frame.
    BadLength,
    /// IPv4 header checksum does not verify.
    BadChecksum,
    /// Martian source address: 0/8, 127/8, multicast, class E, broadcast (RFC 1812 5.3.7).
    MartianSource,
    /// Martian destination: 0/8, 127/8, class E (RFC 1812 5.3.7).
    MartianDestination,
    /// A multicast destination this router does not route and no protocol of ours listens to,
    /// or a unicast packet in a link-layer broadcast or multicast frame (RFC 1812 5.3.4).
    Multicast,
    /// An EtherType the router does not handle.
    UnknownEtherType,
    /// Unicast to another station's MAC (seen in promiscuous mode).
    NotOurMac,
    /// To the broadcast address of one of our subnets (RFC 2644: not forwarded by default).
    DirectedBroadcast,
    /// IPv6 with a link-local source or destination that is not ours: never forwarded
    /// (RFC 4291 2.5.6).
    LinkLocal,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 11] = [
        DropReason::Truncated,
        DropReason::BadVersion,
        DropReason::BadLength,
        DropReason::BadChecksum,
        DropReason::MartianSource,
        DropReason::MartianDestination,
        DropReason::Multicast,
        DropReason::UnknownEtherType,
        DropReason::NotOurMac,
        DropReason::DirectedBroadcast,
        DropReason::LinkLocal,
    ];

    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadVersion => "bad_version",
            DropReason::BadLength => "bad_length",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::MartianSource => "martian_source",
            DropReason::MartianDestination => "martian_destination",
            DropReason::Multicast => "multicast",
            DropReason::UnknownEtherType => "unknown_ethertype",
            DropReason::NotOurMac => "not_our_mac",
            DropReason::DirectedBroadcast => "directed_broadcast",
            DropReason::LinkLocal => "link_local",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a packet leaves the data path for the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Punt {
    /// ARP request or reply.
    Arp,
    /// Addressed to one of the router's own addresses (ICMP echo, RIP, BGP...).
    Local,
    /// OSPF to AllSPFRouters / AllDRouters (224.0.0.5, 224.0.0.6).
    Ospf,
    /// RIPv2 to 224.0.0.9.
    Rip,
    /// Limited broadcast (255.255.255.255): for this router, never forwarded.
    Broadcast,
    /// TTL would expire here: the slow path sends ICMP time exceeded.
    TtlExceeded,
    /// No route: the slow path sends ICMP net unreachable.
    NoRoute,
    /// The next hop's MAC is not known: the slow path resolves it (ARP) and sends the packet.
    Unresolved,
    /// Larger than the output port's MTU: the slow path fragments it, or sends ICMP
    /// fragmentation needed when DF is set.
    TooBig,
    /// IPv6 Neighbor Discovery (solicitations and advertisements).
    Nd,
}

impl Punt {
    /// Every kind, in counter order.
    pub const ALL: [Punt; 10] = [
        Punt::Arp,
        Punt::Local,
        Punt::Ospf,
        Punt::Rip,
        Punt::Broadcast,
        Punt::TtlExceeded,
        Punt::NoRoute,
        Punt::Unresolved,
        Punt::TooBig,
        Punt::Nd,
    ];

    /// The label used in metrics and `brick show counters`.
    pub fn as_str(self) -> &'static str {
        match self {
            Punt::Arp => "arp",
            Punt::Local => "local",
            Punt::Ospf => "ospf",
            Punt::Rip => "rip",
            Punt::Broadcast => "broadcast",
            Punt::TtlExceeded => "ttl_exceeded",
            Punt::NoRoute => "no_route",
            Punt::Unresolved => "unresolved",
            Punt::TooBig => "too_big",
            Punt::Nd => "nd",
        }
    }
}
