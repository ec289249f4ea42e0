//! The layout of a Redis Cluster: which master serves which slots, read from
//! `CLUSTER SLOTS` (answered by every Redis 7 and Valkey node).

use ::redis::Value;

use super::slots::{NodeAddr, SLOTS};

/// Slot ranges and the master serving each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    /// Inclusive ranges, sorted by their first slot, not overlapping.
    ranges: Vec<(u16, u16, NodeAddr)>,
    /// Per master, the replicas the cluster lists for it (failed ones are left out).
    replicas: Vec<(NodeAddr, usize)>,
}

impl SlotMap {
    /// The map from a `CLUSTER SLOTS` reply of the node at `asked` (whose host stands in for
    /// an empty one), or why the reply is not one.
    pub fn parse(reply: &Value, asked: &NodeAddr) -> Result<SlotMap, String> {
        let Value::Array(entries) = reply else {
            return Err(format!("CLUSTER SLOTS answered {reply:?}"));
        };
        let mut ranges = Vec::with_capacity(entries.len());
        let mut replicas: Vec<(NodeAddr, usize)> = Vec::new();
        for entry in entries {
            let Value::Array(parts) = entry else {
                return Err(format!("a CLUSTER SLOTS entry is {entry:?}"));
            };
            let [Value::Int(lo), Value::Int(hi), Value::Array(master), ..] = parts.as_slice()
            else {
                return Err(format!("a CLUSTER SLOTS entry is {parts:?}"));
            };
            let (Ok(lo), Ok(hi)) = (u16::try_from(*lo), u16::try_from(*hi)) else {
                return Err(format!("slots {lo}..{hi}"));
            };
            if lo > hi || hi >= SLOTS {
                return Err(format!("slots {lo}..{hi}"));
            }
            let host = match master.first() {
                Some(Value::BulkString(host)) => String::from_utf8_lossy(host).into_owned(),
                Some(Value::SimpleString(host)) => host.clone(),
                _ => String::new(),
            };
            let host = if host.is_empty() || host == "?" {
                asked.0.clone()
            } else {
                host
            };
            let Some(Value::Int(port)) = master.get(1) else {
                return Err(format!("a CLUSTER SLOTS master is {master:?}"));
            };
            let port = u16::try_from(*port).map_err(|_| format!("port {port}"))?;
            let node = (host, port);
            if !replicas.iter().any(|(n, _)| *n == node) {
                replicas.push((node.clone(), parts.len() - 3));
            }
            ranges.push((lo, hi, node));
        }
        ranges.sort_by_key(|r| r.0);
        if ranges.windows(2).any(|w| w[0].1 >= w[1].0) {
            return Err("CLUSTER SLOTS lists overlapping ranges".into());
        }
        Ok(SlotMap { ranges, replicas })
    }

    /// The master serving `slot`, if one does.
    pub fn owner(&self, slot: u16) -> Option<&NodeAddr> {
        let i = self.ranges.partition_point(|r| r.0 <= slot);
        let (lo, hi, node) = self.ranges.get(i.checked_sub(1)?)?;
        (*lo..=*hi).contains(&slot).then_some(node)
    }

    /// How many replicas the cluster lists for `master`.
    pub fn replicas(&self, master: &NodeAddr) -> usize {
        self.replicas
            .iter()
            .find(|(n, _)| n == master)
            .map_or(0, |(_, count)| *count)
    }

    /// Every master serving some slot, each once.
    pub fn masters(&self) -> Vec<NodeAddr> {
        let mut masters: Vec<NodeAddr> = self.ranges.iter().map(|r| r.2.clone()).collect();
        masters.sort_unstable();
        masters.dedup();
        masters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn slot_ranges_map_to_masters() {
        let reply = Value::Array(vec![
            Value::Array(vec![Value::Int(5461), Value::Int(16383), node("", 7002)]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7001),
                node("10.0.0.2", 7004),
            ]),
        ]);
        let asked = ("127.0.0.1".to_owned(), 7001);
        let map = SlotMap::parse(&reply, &asked).expect("a slot map");
        assert_eq!(map.owner(0), Some(&("10.0.0.1".to_owned(), 7001)));
        assert_eq!(map.owner(5460), Some(&("10.0.0.1".to_owned(), 7001)));
        assert_eq!(map.owner(5461), Some(&("127.0.0.1".to_owned(), 7002)));
        assert_eq!(map.owner(16383), Some(&("127.0.0.1".to_owned(), 7002)));
        assert_eq!(map.masters().len(), 2);
        assert_eq!(map.replicas(&("10.0.0.1".to_owned(), 7001)), 1);
        assert_eq!(map.replicas(&("127.0.0.1".to_owned(), 7002)), 0);
        let partial = SlotMap::parse(
            &Value::Array(vec![Value::Array(vec![
                Value::Int(10),
                Value::Int(20),
                node("h", 1),
            ])]),
            &asked,
        )
        .expect("a slot map");
        assert_eq!(partial.owner(9), None);
        assert_eq!(partial.owner(21), None);
        assert!(SlotMap::parse(&Value::Int(1), &asked).is_err());
    }
}
