//! The compiled rules of one named resource: a byte trie over names, each
//! node holding the exact rule and the prefix rule for the name that ends
//! there. A check walks the name once (no allocation, no parsing), as
//! Consul's radix tree does.

use super::rules::Access;
use super::rules::Level;

/// A policy authorizer's answer before the fallback: `Default` means no
/// rule spoke, and the next authorizer in the chain decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    Deny,
    Default,
}

impl Verdict {
    pub(crate) fn of(level: Level, access: Access) -> Verdict {
        if level.grants(access) {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    }

    fn of_opt(level: Option<Level>, access: Access) -> Verdict {
        level.map_or(Verdict::Default, |l| Verdict::of(l, access))
    }
}

#[derive(Debug, Clone, Default)]
struct Node {
    exact: Option<Level>,
    prefix: Option<Level>,
    /// Sorted by byte, for binary search.
    children: Vec<(u8, u32)>,
}

impl Node {
    fn has_rule(&self) -> bool {
        self.exact.is_some() || self.prefix.is_some()
    }
}

/// Exact and prefix rules for one resource.
#[derive(Debug, Clone)]
pub(crate) struct NameTable {
    /// Node 0 is the root (the empty name).
    nodes: Vec<Node>,
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable { nodes: vec![Node::default()] }
    }
}

impl NameTable {
    /// Sets the rule for `name` (replacing one of the same kind).
    pub(crate) fn insert(&mut self, name: &str, prefix: bool, level: Level) {
        let mut at = 0usize;
        for &byte in name.as_bytes() {
            at = match self.child(at, byte) {
                Some(next) => next,
                None => self.add_child(at, byte),
            };
        }
        let node = &mut self.nodes[at];
        if prefix {
            node.prefix = Some(level);
        } else {
            node.exact = Some(level);
        }
    }

    fn child(&self, at: usize, byte: u8) -> Option<usize> {
        let children = &self.nodes[at].children;
        children.binary_search_by_key(&byte, |(b, _)| *b).ok().map(|i| children[i].1 as usize)
    }

    fn add_child(&mut self, at: usize, byte: u8) -> usize {
        let next = self.nodes.len();
        self.nodes.push(Node::default());
        let children = &mut self.nodes[at].children;
        let slot = children.binary_search_by_key(&byte, |(b, _)| *b).unwrap_err();
        children.insert(slot, (byte, next as u32));
        next
    }

    /// The rule that governs `name`: its exact rule, else the longest
    /// prefix rule covering it, else none.
    pub(crate) fn lookup(&self, name: &str) -> Option<Level> {
        let mut found = None;
        let mut at = 0usize;
        for &byte in name.as_bytes() {
            found = self.nodes[at].prefix.or(found);
            match self.child(at, byte) {
                Some(next) => at = next,
                None => return found,
            }
        }
        let node = &self.nodes[at];
        node.exact.or(node.prefix).or(found)
    }

    /// Consul's KeyWritePrefix: may everything under `prefix` be written
    /// (a recursive delete)? Deny when the longest prefix rule covering
    /// `prefix` is not write, or when any rule under it (exact or prefix,
    /// `prefix` itself included) is not write; Allow when that covering
    /// rule is write; Default when there is none.
    pub(crate) fn write_prefix(&self, prefix: &str) -> Verdict {
        let mut base = self.nodes[0].prefix;
        let mut at = Some(0usize);
        for &byte in prefix.as_bytes() {
            at = at.and_then(|i| self.child(i, byte));
            match at {
                Some(i) => base = self.nodes[i].prefix.or(base),
                None => break,
            }
        }
        match base {
            Some(level) if level != Level::Write => return Verdict::Deny,
            _ => {}
        }
        if let Some(root) = at {
            if self.subtree_has(root, |n| !all_write(n)) {
                return Verdict::Deny;
            }
        }
        if base.is_some() {
            Verdict::Allow
        } else {
            Verdict::Default
        }
    }

    fn subtree_has(&self, root: usize, test: impl Fn(&Node) -> bool) -> bool {
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            let node = &self.nodes[i];
            if test(node) {
                return true;
            }
            stack.extend(node.children.iter().map(|(_, c)| *c as usize));
        }
        false
    }

    fn rule_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.has_rule())
    }

    /// Consul's anyAllowed: does some rule grant `access` on some name?
    /// A `""` prefix rule that denies makes the answer Deny rather than
    /// Default, unless another rule allows.
    pub(crate) fn any_allowed(&self, access: Access) -> Verdict {
        let root = Verdict::of_opt(self.nodes[0].prefix, access);
        if root == Verdict::Allow {
            return Verdict::Allow;
        }
        let any = self.rule_nodes().any(|n| {
            let by_prefix = Verdict::of_opt(n.prefix, access);
            by_prefix == Verdict::Allow || Verdict::of_opt(n.exact, access) == Verdict::Allow
        });
        if any {
            Verdict::Allow
        } else {
            root
        }
    }

    /// Consul's allAllowed: do the rules grant `access` on every name?
    /// Deny if any rule denies it; else Allow if the `""` prefix rule
    /// grants it; else Default.
    pub(crate) fn all_allowed(&self, access: Access) -> Verdict {
        let root = Verdict::of_opt(self.nodes[0].prefix, access);
        if root == Verdict::Deny {
            return Verdict::Deny;
        }
        let denied = self.rule_nodes().any(|n| {
            Verdict::of_opt(n.prefix, access) == Verdict::Deny || Verdict::of_opt(n.exact, access) == Verdict::Deny
        });
        if denied {
            Verdict::Deny
        } else {
            root
        }
    }
}

fn all_write(node: &Node) -> bool {
    [node.exact, node.prefix].into_iter().flatten().all(|l| l == Level::Write)
}
