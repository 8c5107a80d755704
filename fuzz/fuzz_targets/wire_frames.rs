//! Every wire view and Repr of the data path (IPv4, IPv6, ARP, ICMPv4, ICMPv6/ND), the
//! first-pass classifier, the reply builders and fragmentation, over arbitrary bytes: nothing
//! may panic, and a
//! checked IPv4 header whose TTL is decremented keeps a valid checksum.
#![no_main]

use brick_router::classify::{Local, classify};
use brick_router::reply;
use brick_router::wire::arp::{ArpPacket, ArpRepr};
use brick_router::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use brick_router::wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use brick_router::wire::icmpv6;
use brick_router::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use brick_router::wire::ipv6::Ipv6Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = brick_io::flow::hash(data);
    let local = Local {
        addrs6: vec!["fd01::1".parse().unwrap()],
        broadcasts: vec![[198, 18, 0, 255].into()],
        ..Local::new(EthernetAddress([2, 0, 0, 0, 1, 0]), vec![[198, 18, 0, 254].into()])
    };
    let _ = classify(data, &local);
    let _ = reply::echo_reply(data, &local);
    let _ = reply::arp_reply(data, &local);
    let _ = reply::icmp_error(data, &local, [198, 18, 0, 254].into(), reply::IcmpError::FragNeeded(1280));
    let _ = brick_router::fragment::fragment(data, 576);
    let Ok(eth) = EthernetFrame::new_checked(data) else { return };
    let _ = EthernetRepr::parse(&eth);
    match eth.ethertype() {
        EtherType::Arp => {
            if let Ok(p) = ArpPacket::new_checked(eth.payload()) {
                let _ = ArpRepr::parse(&p);
            }
        }
        EtherType::Ipv4 => {
            let mut ip = eth.payload().to_vec();
            if let Ok(mut p) = Ipv4Packet::new_checked(&mut ip[..]) {
                let _ = Ipv4Repr::parse(&p);
                if p.verify_checksum() && p.ttl() > 1 {
                    p.decrement_ttl();
                    assert!(p.verify_checksum());
                }
                if let Ok(icmp) = Icmpv4Packet::new_checked(p.payload()) {
                    let _ = Icmpv4Repr::parse(&icmp);
                }
            }
        }
        EtherType::Ipv6 => {
            let mut ip = eth.payload().to_vec();
            if let Ok(mut p) = Ipv6Packet::new_checked(&mut ip[..]) {
                let _ = icmpv6::parse_nd(p.payload());
                let _ = icmpv6::verify(p.src_addr(), p.dst_addr(), p.payload());
                p.decrement_hop_limit();
            }
        }
        _ => {}
    }
});
