//! The control plane fed arbitrary frames as every kind of punt: ARP, Neighbor Discovery (router
//! solicitations on port 0, which sends router advertisements), ICMP
//! and ICMPv6 to the router, expiring TTLs, the slow forwarding path with fragmentation. Nothing
//! may panic; every frame it sends back must be a well-formed Ethernet frame.
#![no_main]

use std::cell::RefCell;

use brick_router::classify::Local;
use brick_router::config::IfAddr6;
use brick_router::control::{ControlPlane, ControlPort, Limits};
use brick_router::neighbor::Macs;
use brick_router::punt::Punted;
use brick_router::verdict::Punt;
use brick_router::wire::ethernet::{EthernetAddress, EthernetFrame};
use brick_router::wire::ipv6;
use brick_routing::{Fib, Gateway, Lpm, Poptrie4, Poptrie6, Prefix};
use libfuzzer_sys::fuzz_target;

fn control() -> ControlPlane<Poptrie4> {
    let p4 = |s: &str| s.parse::<Prefix<u32>>().unwrap();
    let p6 = |s: &str| s.parse::<Prefix<u128>>().unwrap();
    let routes = [(p4("10.1.0.0/24"), 1), (p4("10.2.0.0/24"), 2), (p4("0.0.0.0/0"), 3)];
    let groups = vec![
        vec![],
        vec![Gateway { port: 0, addr: 0 }],
        vec![Gateway { port: 1, addr: 0 }],
        vec![Gateway { port: 1, addr: u32::from_be_bytes([10, 2, 0, 99]) }],
    ];
    let (_, fib) = Fib::new(Poptrie4::from_routes(&routes).unwrap(), groups).publish();
    let routes6 = [(p6("fd01::/64"), 1), (p6("fd02::/64"), 2)];
    let groups6 = vec![vec![], vec![Gateway { port: 0, addr: 0 }], vec![Gateway { port: 1, addr: 0 }]];
    let (_, fib6) = Fib::new(Poptrie6::from_routes(&routes6).unwrap(), groups6).publish();
    let local = |mac: u8, mtu: u16| Local {
        addrs6: vec!["fd01::1".parse().unwrap(), "fd02::1".parse().unwrap()],
        mtu,
        ..Local::new(EthernetAddress([2, 0, 0, 0, 1, mac]), vec![[10, 1, 0, 1].into(), [10, 2, 0, 1].into()])
    };
    let ports = vec![
        ControlPort {
            local: local(0, 1500),
            own: vec!["10.1.0.1/24".parse().unwrap()],
            own6: vec![
                "fd01::1/64".parse().unwrap(),
                IfAddr6 { addr: ipv6::link_local([2, 0, 0, 0, 1, 0]), len: 64 },
            ],
        },
        ControlPort {
            local: local(1, 1280),
            own: vec!["10.2.0.1/24".parse().unwrap()],
            own6: vec!["fd02::1/64".parse().unwrap()],
        },
    ];
    ControlPlane::new(ports, fib, Macs::default(), Limits::default())
        .with_v6(fib6)
        .with_router_adverts([0])
}

thread_local! {
    static CONTROL: RefCell<ControlPlane<Poptrie4>> = RefCell::new(control());
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let kind = Punt::ALL[usize::from(sel) % Punt::ALL.len()];
    let port = u16::from(sel >> 7);
    CONTROL.with(|cp| {
        let mut cp = cp.borrow_mut();
        let now = u64::from(sel) * 100;
        let mut out = cp.handle(&Punted { port, kind, frame: frame.to_vec() }, now);
        out.extend(cp.tick(now));
        for (p, f) in out {
            assert!(p < 2, "sent out of a port that does not exist");
            assert!(EthernetFrame::new_checked(&f[..]).is_ok(), "a runt frame");
        }
    });
});
