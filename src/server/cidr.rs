//! Networks given as CIDR (`10.0.0.0/8`, `fd00::/64`, a bare address): the trusted proxies of
//! the PROXY protocol, and the sources a per-source limit groups together.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network of trusted proxies, e.g. `10.0.0.0/8`, `::1/128` or a bare address (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `addr` lies in this network. An IPv4 address seen as IPv4-mapped IPv6
    /// (`::ffff:a.b.c.d`, as a dual-stack listener reports it) matches its IPv4 network.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(&net.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(a)) => prefix_eq(&net.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = prefix % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// Why a [`Cidr`] did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network `{0}`: expected an address with an optional /prefix, e.g. 10.0.0.0/8")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| err())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_match() {
        let net: Cidr = "10.77.0.0/16".parse().expect("cidr");
        assert!(net.contains("10.77.200.1".parse().expect("ip")));
        assert!(!net.contains("10.78.0.1".parse().expect("ip")));
        assert!(
            net.contains("::ffff:10.77.0.9".parse().expect("ip")),
            "mapped"
        );
        let odd: Cidr = "10.77.8.0/21".parse().expect("cidr");
        assert!(odd.contains("10.77.15.255".parse().expect("ip")));
        assert!(!odd.contains("10.77.16.0".parse().expect("ip")));
        let host: Cidr = "::1".parse().expect("cidr");
        assert_eq!(host.to_string(), "::1/128");
        assert!(host.contains("::1".parse().expect("ip")));
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains("192.0.2.1".parse().expect("ip")));
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "x", "10.0.0.0/-1", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
