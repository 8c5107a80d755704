//! The neighbour table of the control plane, for IPv4 (ARP) and IPv6 (Neighbor Discovery) alike: resolution of next hops with a
//! bounded queue of packets waiting for it, aging, and limits that an ARP flood cannot exceed.
//!
//! It does no I/O: every call takes the current time and returns what to send (ARP requests) and
//! what became of waiting packets, so the same code runs under test with a fake clock.
//!
//! States, as in Linux and RFC 1122 2.3.2.1: `Incomplete` (a request is out; packets wait),
//! `Reachable` (confirmed within `reachable_ms`), `Stale` (usable, re-confirmed by unicast
//! requests after its next use). An entry unanswered after `max_probes` requests fails: its
//! waiting packets are handed back for ICMP host unreachable, and a stale entry goes. The data
//! path forwards on the published MACs without telling the table, so a use there cannot trigger
//! the re-confirmation; instead an entry not confirmed for `stale_ms` is re-confirmed anyway (as
//! VPP ages its neighbours): a live neighbour answers and stays, a gone one is removed within
//! `max_probes` requests, and the forwarding cores stop using its MAC. The table holds at most `max_entries`; when full,
//! the least recently used stale or failed entry makes room, and a new incomplete entry is refused
//! rather than evicting a live one, so a scan of unused addresses cannot flush real neighbours.
//! Information from ARP packets only updates entries that exist, or creates one when the packet
//! is a request for one of our addresses (RFC 826's merge rule).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::wire::ethernet::EthernetAddress;

/// The neighbours' MACs as the data path reads them: next hop to MAC, one map per family so a
/// lookup hashes and compares a plain integer (measured: keying one map by `IpAddr` cost the
/// pipeline about a fifth of its rate).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MacTable {
    v4: HashMap<u32, EthernetAddress, BuildHasherDefault<AddrHasher>>,
    v6: HashMap<u128, EthernetAddress, BuildHasherDefault<AddrHasher>>,
}

impl MacTable {
    /// The MAC of `ip`.
    #[inline]
    pub fn get(&self, ip: IpAddr) -> Option<&EthernetAddress> {
        match ip {
            IpAddr::V4(a) => self.v4.get(&u32::from(a)),
            IpAddr::V6(a) => self.v6.get(&u128::from(a)),
        }
    }

    /// Sets the MAC of `ip`.
    pub fn insert(&mut self, ip: IpAddr, mac: EthernetAddress) {
        match ip {
            IpAddr::V4(a) => self.v4.insert(a.into(), mac),
            IpAddr::V6(a) => self.v6.insert(a.into(), mac),
        };
    }

    /// Entries of both families.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FromIterator<(IpAddr, EthernetAddress)> for MacTable {
    fn from_iter<I: IntoIterator<Item = (IpAddr, EthernetAddress)>>(iter: I) -> Self {
        let mut t = MacTable::default();
        for (ip, mac) in iter {
            t.insert(ip, mac);
        }
        t
    }
}

/// A multiplicative hash for addresses (FxHash's step): the data path looks a MAC up per packet,
/// and SipHash's flooding resistance buys nothing for a table the control plane fills only from
/// configured subnets under its own limits. Measured: SipHash showed up in the router's profile.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddrHasher(u64);

impl AddrHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for AddrHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.add(u64::from(x));
    }

    #[inline]
    fn write_u128(&mut self, x: u128) {
        self.add(x as u64);
        self.add((x >> 64) as u64);
    }
}

/// The MAC table published by the control plane to the forwarding cores: readers load the
/// current table once per burst without locks; the control plane swaps in a new one when an
/// entry appears, changes or goes.
#[derive(Clone, Debug, Default)]
pub struct Macs(Arc<ArcSwap<MacTable>>);

impl Macs {
    /// A table with `initial` entries (static neighbours, benchmarks).
    pub fn new(initial: MacTable) -> Self {
        Macs(Arc::new(ArcSwap::from_pointee(initial)))
    }

    /// The current table.
    #[inline]
    pub fn load(&self) -> Guard<Arc<MacTable>> {
        self.0.load()
    }

    /// Replaces the table; readers see the old or the new one, whole.
    pub fn publish(&self, table: MacTable) {
        self.0.store(Arc::new(table));
    }
}

/// Limits and timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most entries in the table.
    pub max_entries: usize,
    /// Most packets waiting for one neighbour (Linux bounds the same queue by `unres_qlen_bytes`).
    pub max_pending: usize,
    /// How long a confirmed entry stays reachable.
    pub reachable_ms: u64,
    /// How long an entry may go unconfirmed before it is re-confirmed even unused.
    pub stale_ms: u64,
    /// Interval between requests for an incomplete entry.
    pub retrans_ms: u64,
    /// Requests sent before an entry fails.
    pub max_probes: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_entries: 4096,
            max_pending: 16,
            reachable_ms: 30_000,
            stale_ms: 600_000,
            retrans_ms: 1_000,
            max_probes: 3,
        }
    }
}

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Send to this MAC.
    Mac(EthernetAddress),
    /// Unknown: the packet waits (if it was given) and a request goes out if `request` is set.
    Pending {
        /// Send a broadcast ARP request now.
        request: bool,
    },
    /// Unresolvable now: the table or the neighbour's queue is full, or the neighbour failed.
    Drop,
}

/// Something the control plane must do after [`Neighbors::tick`] or an ARP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<P> {
    /// Broadcast an ARP request for this address (or unicast to the MAC, to re-confirm).
    Request(IpAddr, Option<EthernetAddress>),
    /// The neighbour answered: send these waiting packets to its MAC.
    Send(EthernetAddress, Vec<P>),
    /// The neighbour never answered: these packets get ICMP host unreachable.
    Unreachable(IpAddr, Vec<P>),
}

#[derive(Debug)]
enum State {
    Incomplete {
        next_probe: u64,
        probes: u32,
    },
    Reachable {
        mac: EthernetAddress,
        until: u64,
    },
    /// `wanted`: to be re-confirmed by unicast requests (used since it went stale, as Linux's
    /// DELAY/PROBE, or unconfirmed for `stale_ms`); `probes` of them are out, the next one at
    /// `next_probe`.
    Stale {
        mac: EthernetAddress,
        wanted: bool,
        probes: u32,
        next_probe: u64,
    },
    Failed,
    /// Configured by the operator: never aged, probed or changed by what the wire says.
    Permanent {
        mac: EthernetAddress,
    },
}

impl State {
    /// A stale entry nobody asked to re-confirm yet.
    fn stale(mac: EthernetAddress) -> Self {
        State::Stale {
            mac,
            wanted: false,
            probes: 0,
            next_probe: 0,
        }
    }
}

#[derive(Debug)]
struct Entry<P> {
    state: State,
    /// Last use by the control plane (the eviction order).
    used: u64,
    /// Last confirmation by the neighbour.
    confirmed: u64,
    pending: VecDeque<P>,
}

/// The table; `P` is a waiting packet (an owned frame in the control plane).
#[derive(Debug)]
pub struct Neighbors<P> {
    cfg: Config,
    entries: HashMap<IpAddr, Entry<P>>,
    /// Packets refused because a limit was reached; a counter for the operator.
    pub refused: u64,
    /// Set when a MAC the data path may hold went away; see [`Neighbors::take_removed`].
    removed: bool,
}

impl<P> Neighbors<P> {
    /// An empty table.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            entries: HashMap::new(),
            refused: 0,
            removed: false,
        }
    }

    /// Whether an entry with a MAC was removed since the last call: the MACs must be published
    /// again, or the forwarding cores keep sending to a neighbour that is gone.
    pub fn take_removed(&mut self) -> bool {
        std::mem::take(&mut self.removed)
    }

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The MAC of `ip` if it is known (reachable, stale or permanent), for `brick show
    /// neighbors`.
    pub fn get(&self, ip: impl Into<IpAddr>) -> Option<EthernetAddress> {
        match self.entries.get(&ip.into())?.state {
            State::Reachable { mac, .. } | State::Stale { mac, .. } | State::Permanent { mac } => {
                Some(mac)
            }
            _ => None,
        }
    }

    /// Fixes `ip` at `mac` (a static entry from the configuration), over whatever was there;
    /// packets waiting for it are returned to be sent. Static entries do not count against
    /// `max_entries` evictions: they are never evicted.
    pub fn set_permanent(&mut self, ip: impl Into<IpAddr>, mac: EthernetAddress) -> Vec<P> {
        let e = self.entries.entry(ip.into()).or_insert_with(|| Entry {
            state: State::Failed,
            used: 0,
            confirmed: 0,
            pending: VecDeque::new(),
        });
        e.state = State::Permanent { mac };
        e.pending.drain(..).collect()
    }

    /// The MACs usable now (reachable, stale and permanent entries), for the data path.
    pub fn macs(&self) -> MacTable {
        self.entries
            .keys()
            .filter_map(|ip| Some((*ip, self.get(*ip)?)))
            .collect()
    }

    /// Every entry with its MAC (if known) and state, sorted by address, for `brick show
    /// neighbors`.
    pub fn list(&self) -> Vec<(IpAddr, Option<EthernetAddress>, &'static str)> {
        let mut out: Vec<_> = self
            .entries
            .iter()
            .map(|(ip, e)| {
                let state = match e.state {
                    State::Incomplete { .. } => "incomplete",
                    State::Reachable { .. } => "reachable",
                    State::Stale { .. } => "stale",
                    State::Failed => "failed",
                    State::Permanent { .. } => "permanent",
                };
                (*ip, self.get(*ip), state)
            })
            .collect();
        out.sort_unstable_by_key(|e| e.0);
        out
    }

    /// Makes room for one more entry, evicting the least recently used stale or failed one.
    fn room(&mut self) -> bool {
        if self.entries.len() < self.cfg.max_entries {
            return true;
        }
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Stale { .. } | State::Failed))
            .min_by_key(|(_, e)| e.used)
            .map(|(ip, _)| *ip);
        match victim {
            Some(ip) => {
                self.entries.remove(&ip);
                self.removed = true;
                true
            }
            None => false,
        }
    }

    /// Resolves `ip` for a packet about to leave; `packet` waits if the MAC is not known yet.
    pub fn lookup(&mut self, ip: impl Into<IpAddr>, packet: Option<P>, now: u64) -> Lookup {
        let ip = ip.into();
        let cfg = self.cfg;
        if !self.entries.contains_key(&ip) {
            if !self.room() {
                self.refused += 1;
                return Lookup::Drop;
            }
            let mut e = Entry {
                state: State::Incomplete {
                    next_probe: now + cfg.retrans_ms,
                    probes: 1,
                },
                used: now,
                confirmed: 0,
                pending: VecDeque::new(),
            };
            e.pending.extend(packet);
            self.entries.insert(ip, e);
            return Lookup::Pending { request: true };
        }
        let Some(e) = self.entries.get_mut(&ip) else {
            return Lookup::Drop;
        };
        e.used = now;
        match e.state {
            State::Permanent { mac } => Lookup::Mac(mac),
            State::Reachable { mac, until } if now < until => Lookup::Mac(mac),
            State::Reachable { mac, .. } => {
                e.state = State::Stale {
                    mac,
                    wanted: true,
                    probes: 0,
                    next_probe: 0,
                };
                Lookup::Mac(mac)
            }
            State::Stale {
                ref mut wanted,
                mac,
                ..
            } => {
                *wanted = true;
                Lookup::Mac(mac)
            }
            State::Incomplete { .. } => match packet {
                Some(p) if e.pending.len() < cfg.max_pending => {
                    e.pending.push_back(p);
                    Lookup::Pending { request: false }
                }
                Some(_) => {
                    self.refused += 1;
                    Lookup::Drop
                }
                None => Lookup::Pending { request: false },
            },
            State::Failed => {
                // Try again on new traffic, as Linux does once the failed entry is not fresh.
                e.state = State::Incomplete {
                    next_probe: now + cfg.retrans_ms,
                    probes: 1,
                };
                e.pending.extend(packet);
                Lookup::Pending { request: true }
            }
        }
    }

    /// An ARP packet from `ip` at `mac` arrived. `for_us` is true when it is a request for one
    /// of our addresses (then an entry is created if there is none). Returns the waiting packets
    /// to send.
    pub fn learn(
        &mut self,
        ip: impl Into<IpAddr>,
        mac: EthernetAddress,
        for_us: bool,
        now: u64,
    ) -> Option<Action<P>> {
        let ip = ip.into();
        let broadcast = matches!(ip, IpAddr::V4(a) if a == Ipv4Addr::BROADCAST);
        if mac.is_multicast() || ip.is_unspecified() || broadcast || ip.is_multicast() {
            return None;
        }
        if !self.entries.contains_key(&ip) {
            if !for_us || !self.room() {
                return None;
            }
            self.entries.insert(
                ip,
                Entry {
                    state: State::stale(mac),
                    used: now,
                    confirmed: now,
                    pending: VecDeque::new(),
                },
            );
            return None;
        }
        let e = self.entries.get_mut(&ip)?;
        if matches!(e.state, State::Permanent { .. }) {
            return None;
        }
        e.state = State::Reachable {
            mac,
            until: now + self.cfg.reachable_ms,
        };
        e.confirmed = now;
        if e.pending.is_empty() {
            return None;
        }
        Some(Action::Send(mac, e.pending.drain(..).collect()))
    }

    /// A neighbour advertisement for `ip` at `mac` arrived, with its solicited and override
    /// flags (RFC 4861 7.2.5): it completes a resolution, confirms an entry (solicited), or
    /// changes a MAC only when it may override; it never creates an entry. Returns the waiting
    /// packets to send.
    pub fn advert(
        &mut self,
        ip: impl Into<IpAddr>,
        mac: EthernetAddress,
        solicited: bool,
        override_: bool,
        now: u64,
    ) -> Option<Action<P>> {
        let reachable_ms = self.cfg.reachable_ms;
        let e = self.entries.get_mut(&ip.into())?;
        let confirmed = State::Reachable {
            mac,
            until: now + reachable_ms,
        };
        let known = match e.state {
            State::Permanent { .. } => return None,
            State::Reachable { mac, .. } | State::Stale { mac, .. } => Some(mac),
            State::Incomplete { .. } | State::Failed => None,
        };
        e.state = match known {
            // Resolving: the answer completes it.
            None => {
                if solicited {
                    confirmed
                } else {
                    State::stale(mac)
                }
            }
            // Another MAC without the override flag: at most the entry is no longer trusted.
            Some(old) if old != mac && !override_ => {
                if matches!(e.state, State::Reachable { .. }) {
                    State::stale(old)
                } else {
                    return None;
                }
            }
            Some(_) if solicited => confirmed,
            Some(old) if old != mac => State::stale(mac),
            Some(_) => return None,
        };
        // Only a solicited advertisement makes the entry reachable: a confirmation.
        if matches!(e.state, State::Reachable { .. }) {
            e.confirmed = now;
        }
        if e.pending.is_empty() || known.is_some() {
            return None;
        }
        Some(Action::Send(mac, e.pending.drain(..).collect()))
    }

    /// Advances timers: retransmits requests, fails unanswered entries, ages out unused ones.
    pub fn tick(&mut self, now: u64) -> Vec<Action<P>> {
        let (cfg, removed) = (self.cfg, &mut self.removed);
        let mut out = Vec::new();
        self.entries.retain(|ip, e| match e.state {
            State::Incomplete { next_probe, probes } if now >= next_probe => {
                if probes >= cfg.max_probes {
                    out.push(Action::Unreachable(*ip, e.pending.drain(..).collect()));
                    e.state = State::Failed;
                } else {
                    out.push(Action::Request(*ip, None));
                    e.state = State::Incomplete {
                        next_probe: now + cfg.retrans_ms,
                        probes: probes + 1,
                    };
                }
                true
            }
            State::Reachable { mac, until } if now >= until => {
                e.state = State::stale(mac);
                true
            }
            State::Stale {
                mac,
                wanted,
                probes,
                next_probe,
            } => {
                let due = wanted || now.saturating_sub(e.confirmed) >= cfg.stale_ms;
                if !due || now < next_probe {
                    return true;
                }
                if probes >= cfg.max_probes {
                    // Gone: the data path must stop using it.
                    *removed = true;
                    return false;
                }
                out.push(Action::Request(*ip, Some(mac)));
                e.state = State::Stale {
                    mac,
                    wanted: true,
                    probes: probes + 1,
                    next_probe: now + cfg.retrans_ms,
                };
                true
            }
            State::Failed => now.saturating_sub(e.used) < cfg.stale_ms,
            _ => true,
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 9]);

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 19, 0, n))
    }

    fn table() -> Neighbors<u32> {
        Neighbors::new(Config {
            max_entries: 4,
            max_pending: 2,
            ..Default::default()
        })
    }

    /// A static entry answers lookups at once, ignores what ARP and ND say, never ages, and
    /// survives a full table; set over a pending resolution, it releases the waiting packets.
    #[test]
    fn permanent_entries_stay_as_configured() {
        let mut t = table();
        let other = EthernetAddress([2, 0, 0, 0, 0, 8]);
        assert_eq!(
            t.lookup(ip(1), Some(5), 0),
            Lookup::Pending { request: true }
        );
        assert_eq!(t.set_permanent(ip(1), MAC), vec![5]);
        assert_eq!(t.lookup(ip(1), Some(6), 1), Lookup::Mac(MAC));
        assert_eq!(t.learn(ip(1), other, true, 2), None);
        assert_eq!(t.advert(ip(1), other, true, true, 3), None);
        assert!(t.tick(u64::MAX / 2).is_empty());
        for n in 2..=4 {
            t.learn(ip(n), other, true, 4);
        }
        t.tick(u64::MAX / 2);
        assert_eq!(
            t.lookup(ip(9), None, 5),
            Lookup::Pending { request: true },
            "an evicted stale entry made room"
        );
        assert_eq!(t.get(ip(1)), Some(MAC));
        assert_eq!(t.list()[0], (ip(1), Some(MAC), "permanent"));
        assert!(t.macs().get(ip(1)).is_some());
    }

    #[test]
    fn advertisements_follow_rfc_4861_7_2_5() {
        let mut t = table();
        let other = EthernetAddress([2, 0, 0, 0, 0, 8]);
        assert_eq!(
            t.advert(ip(5), MAC, true, true, 0),
            None,
            "never creates an entry"
        );
        assert!(t.is_empty());
        assert_eq!(
            t.lookup(ip(2), Some(7), 0),
            Lookup::Pending { request: true }
        );
        assert_eq!(
            t.advert(ip(2), MAC, true, false, 10),
            Some(Action::Send(MAC, vec![7])),
            "a solicited answer completes the resolution"
        );
        assert_eq!(t.advert(ip(2), other, false, false, 20), None);
        assert_eq!(t.get(ip(2)), Some(MAC), "no override: the MAC stays");
        assert_eq!(t.advert(ip(2), other, true, true, 30), None);
        assert_eq!(t.get(ip(2)), Some(other), "override: the MAC changes");
    }

    #[test]
    fn resolve_queue_answer_release() {
        let mut t = table();
        assert_eq!(
            t.lookup(ip(1), Some(1), 0),
            Lookup::Pending { request: true }
        );
        assert_eq!(
            t.lookup(ip(1), Some(2), 10),
            Lookup::Pending { request: false }
        );
        assert_eq!(
            t.lookup(ip(1), Some(3), 20),
            Lookup::Drop,
            "queue of 2 is full"
        );
        assert_eq!(t.refused, 1);
        assert_eq!(
            t.learn(ip(1), MAC, false, 30),
            Some(Action::Send(MAC, vec![1, 2]))
        );
        assert_eq!(t.lookup(ip(1), Some(4), 40), Lookup::Mac(MAC));
        assert_eq!(t.get(ip(1)), Some(MAC));
    }

    #[test]
    fn unanswered_requests_fail_and_hand_back_the_packets() {
        let mut t = table();
        t.lookup(ip(2), Some(7), 0);
        assert_eq!(t.tick(500), vec![]);
        assert_eq!(t.tick(1000), vec![Action::Request(ip(2), None)]);
        assert_eq!(t.tick(2000), vec![Action::Request(ip(2), None)]);
        assert_eq!(t.tick(3000), vec![Action::Unreachable(ip(2), vec![7])]);
        assert_eq!(t.get(ip(2)), None);
        assert_eq!(
            t.lookup(ip(2), Some(8), 4000),
            Lookup::Pending { request: true },
            "new traffic retries"
        );
    }

    #[test]
    fn entries_age_from_reachable_to_stale_to_gone() {
        let mut t = table();
        t.lookup(ip(3), None, 0);
        t.learn(ip(3), MAC, false, 0);
        assert_eq!(
            t.tick(30_000),
            vec![],
            "stale, not used: nothing to confirm"
        );
        assert_eq!(t.get(ip(3)), Some(MAC), "stale is still usable");
        assert_eq!(t.lookup(ip(3), Some(1), 30_001), Lookup::Mac(MAC));
        let probe = vec![Action::Request(ip(3), Some(MAC))];
        assert_eq!(
            t.tick(30_002),
            probe,
            "a used stale entry is re-confirmed by unicast"
        );
        assert_eq!(
            t.tick(30_003),
            vec![],
            "one request per retransmission interval"
        );
        assert_eq!(t.tick(31_002), probe);
        assert_eq!(t.tick(32_002), probe);
        assert!(!t.take_removed());
        assert_eq!(t.tick(33_002), vec![], "unanswered after three: gone");
        assert!(t.is_empty());
        assert!(t.take_removed(), "the MACs must be published again");
        assert!(!t.take_removed(), "once");
    }

    /// The data path does not report its uses: an entry it may be using is re-confirmed once it
    /// has gone `stale_ms` unconfirmed. A neighbour that answers stays, and is not asked again
    /// before another `stale_ms`.
    #[test]
    fn unconfirmed_entries_are_reconfirmed_even_unused() {
        let mut t = table();
        t.lookup(ip(4), None, 0);
        t.learn(ip(4), MAC, false, 0);
        t.tick(30_000);
        assert_eq!(t.tick(599_999), vec![]);
        let probe = vec![Action::Request(ip(4), Some(MAC))];
        assert_eq!(t.tick(600_000), probe);
        assert_eq!(t.learn(ip(4), MAC, false, 600_010), None);
        assert_eq!(t.tick(601_010), vec![], "answered: reachable again");
        t.tick(630_010);
        assert_eq!(
            t.tick(631_000),
            vec![],
            "stale again, but recently confirmed"
        );
        assert_eq!(t.tick(1_200_010), probe);
        assert_eq!(t.get(ip(4)), Some(MAC));
        assert!(!t.take_removed());
    }

    /// A solicited advertisement (ND) confirms as an ARP reply does: the re-confirmation it
    /// answers is not asked again before another `stale_ms`.
    #[test]
    fn solicited_advertisements_count_as_confirmations() {
        let mut t = table();
        t.lookup(ip(6), None, 0);
        t.advert(ip(6), MAC, true, true, 0);
        let probe = vec![Action::Request(ip(6), Some(MAC))];
        t.tick(30_000);
        assert_eq!(t.tick(600_000), probe);
        t.advert(ip(6), MAC, true, false, 600_010);
        t.tick(630_010);
        assert_eq!(
            t.tick(631_000),
            vec![],
            "stale again, but recently confirmed"
        );
        assert_eq!(t.tick(1_200_010), probe);
    }

    #[test]
    fn a_flood_cannot_exceed_the_table_or_evict_live_neighbours() {
        let mut t = table();
        for n in 1..=4 {
            t.lookup(ip(n), None, u64::from(n));
            t.learn(ip(n), MAC, false, u64::from(n));
        }
        // Unsolicited replies and requests not for us create nothing.
        for n in 10..200 {
            assert_eq!(t.learn(ip(n), MAC, false, 5), None);
        }
        assert_eq!(t.len(), 4);
        // A scan of unknown destinations cannot push reachable neighbours out.
        for n in 10..200 {
            assert_eq!(t.lookup(ip(n), Some(0), 6), Lookup::Drop);
        }
        assert_eq!(t.len(), 4);
        assert!(t.refused >= 190);
        // Once they are stale, the least recently used makes room.
        t.tick(30_010);
        t.lookup(ip(1), None, 30_011);
        assert_eq!(
            t.lookup(ip(50), None, 30_012),
            Lookup::Pending { request: true }
        );
        assert_eq!(t.len(), 4);
        assert_eq!(
            t.get(ip(2)),
            None,
            "the least recently used stale entry went"
        );
        assert_eq!(t.get(ip(1)), Some(MAC));
    }

    #[test]
    fn requests_for_us_create_entries_and_bogus_senders_are_ignored() {
        let mut t = table();
        assert_eq!(t.learn(ip(5), MAC, true, 0), None);
        assert_eq!(t.get(ip(5)), Some(MAC));
        assert_eq!(t.tick(1), vec![], "learnt, not used: no probe");
        assert_eq!(t.learn(Ipv4Addr::BROADCAST, MAC, true, 0), None);
        assert_eq!(t.learn(ip(6), EthernetAddress::BROADCAST, true, 0), None);
        assert_eq!(t.len(), 1);
    }
}
