//! Struct layout: where each field goes in the data and pointer sections.
//!
//! This reproduces the reference compiler's placement exactly (it is part of the wire format):
//! fields are placed in ordinal order; each data field takes the smallest free "hole" of at least
//! its size, holes being the power-of-two gaps left by earlier fields; union members share space,
//! each member being a group that reuses the union's data locations, expanding a location in
//! place when a member needs more room than the location has.

/// Up to one free hole of each size 2^0 .. 2^5 bits, by offset in units of that size (0 = none).
#[derive(Debug, Clone, Copy, Default)]
struct HoleSet {
    holes: [u32; 6],
}

impl HoleSet {
    fn try_allocate(&mut self, lg: u32) -> Option<u32> {
        if lg as usize >= self.holes.len() {
            None
        } else if self.holes[lg as usize] != 0 {
            let r = self.holes[lg as usize];
            self.holes[lg as usize] = 0;
            Some(r)
        } else if let Some(next) = self.try_allocate(lg + 1) {
            let r = next * 2;
            self.holes[lg as usize] = r + 1;
            Some(r)
        } else {
            None
        }
    }

    fn add_holes_at_end(&mut self, mut lg: u32, mut offset: u32, limit: u32) {
        while lg < limit && (lg as usize) < self.holes.len() {
            self.holes[lg as usize] = offset;
            lg += 1;
            offset = offset.div_ceil(2);
        }
    }

    fn try_expand(&mut self, old_lg: u32, old_offset: u32, factor: u32) -> bool {
        if factor == 0 {
            return true;
        }
        if old_lg as usize >= self.holes.len() {
            return false;
        }
        if self.holes[old_lg as usize] != old_offset + 1 {
            return false;
        }
        if self.try_expand(old_lg + 1, old_offset >> 1, factor - 1) {
            self.holes[old_lg as usize] = 0;
            true
        } else {
            false
        }
    }

    fn smallest_at_least(&self, size: u32) -> Option<u32> {
        (size..6).find(|&i| self.holes[i as usize] != 0)
    }
}

/// Where a field's storage comes from: the struct itself or a union member's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Top,
    Group(usize),
}

#[derive(Debug, Clone, Copy)]
struct DataLocation {
    lg: u32,
    offset: u32,
}

#[derive(Debug)]
struct Union {
    parent: Scope,
    group_count: u32,
    discriminant_offset: Option<u32>,
    data_locations: Vec<DataLocation>,
    pointer_locations: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    used: bool,
    lg_used: u32,
    holes: HoleSet,
}

#[derive(Debug)]
struct Group {
    parent: usize,
    usage: Vec<Usage>,
    pointer_usage: usize,
    has_members: bool,
}

/// The layout of one struct and all its unions and groups.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub data_words: u32,
    pub pointers: u32,
    holes: HoleSet,
    unions: Vec<Union>,
    groups: Vec<Group>,
}

impl Layout {
    /// A new union inside `parent`; returns its index.
    pub(crate) fn new_union(&mut self, parent: Scope) -> usize {
        self.unions.push(Union {
            parent,
            group_count: 0,
            discriminant_offset: None,
            data_locations: Vec::new(),
            pointer_locations: Vec::new(),
        });
        self.unions.len() - 1
    }

    /// A new member group of union `u`; returns its scope.
    pub(crate) fn new_group(&mut self, u: usize) -> Scope {
        self.groups.push(Group {
            parent: u,
            usage: Vec::new(),
            pointer_usage: 0,
            has_members: false,
        });
        Scope::Group(self.groups.len() - 1)
    }

    /// Adds the union's discriminant if it has none; true if added now.
    pub(crate) fn add_discriminant(&mut self, u: usize) -> bool {
        if self.unions[u].discriminant_offset.is_none() {
            let off = self.add_data(self.unions[u].parent, 4);
            self.unions[u].discriminant_offset = Some(off);
            true
        } else {
            false
        }
    }

    pub(crate) fn discriminant_offset(&self, u: usize) -> u32 {
        self.unions[u].discriminant_offset.unwrap_or(0)
    }

    fn add_member(&mut self, g: usize) {
        if !self.groups[g].has_members {
            self.groups[g].has_members = true;
            let u = self.groups[g].parent;
            self.unions[u].group_count += 1;
            if self.unions[u].group_count == 2 {
                self.add_discriminant(u);
            }
        }
    }

    pub(crate) fn add_void(&mut self, scope: Scope) {
        if let Scope::Group(g) = scope {
            self.add_member(g);
            let parent = self.unions[self.groups[g].parent].parent;
            self.add_void(parent);
        }
    }

    pub(crate) fn add_pointer(&mut self, scope: Scope) -> u32 {
        match scope {
            Scope::Top => {
                self.pointers += 1;
                self.pointers - 1
            }
            Scope::Group(g) => {
                self.add_member(g);
                let u = self.groups[g].parent;
                let i = self.groups[g].pointer_usage;
                self.groups[g].pointer_usage += 1;
                if i < self.unions[u].pointer_locations.len() {
                    self.unions[u].pointer_locations[i]
                } else {
                    let p = self.add_pointer(self.unions[u].parent);
                    self.unions[u].pointer_locations.push(p);
                    p
                }
            }
        }
    }

    /// Places a data field of 2^lg bits; returns its offset in units of its size.
    pub(crate) fn add_data(&mut self, scope: Scope, lg: u32) -> u32 {
        match scope {
            Scope::Top => {
                if let Some(h) = self.holes.try_allocate(lg) {
                    return h;
                }
                let offset = self.data_words << (6 - lg);
                self.data_words += 1;
                self.holes.add_holes_at_end(lg, offset + 1, 6);
                offset
            }
            Scope::Group(g) => self.group_add_data(g, lg),
        }
    }

    fn group_add_data(&mut self, g: usize, lg: u32) -> u32 {
        self.add_member(g);
        let u = self.groups[g].parent;
        let mut best: Option<(u32, usize)> = None;
        for i in 0..self.unions[u].data_locations.len() {
            if self.groups[g].usage.len() == i {
                self.groups[g].usage.push(Usage::default());
            }
            let loc = self.unions[u].data_locations[i];
            if let Some(h) = smallest_hole_at_least(&self.groups[g].usage[i], loc, lg) {
                if best.is_none_or(|(s, _)| h < s) {
                    best = Some((h, i));
                }
            }
        }
        if let Some((_, i)) = best {
            let loc = self.unions[u].data_locations[i];
            return allocate_from_hole(&mut self.groups[g].usage[i], loc, lg);
        }
        for i in 0..self.unions[u].data_locations.len() {
            if let Some(r) = self.try_allocate_by_expanding(g, i, lg) {
                return r;
            }
        }
        let offset = self.add_data(self.unions[u].parent, lg);
        self.unions[u]
            .data_locations
            .push(DataLocation { lg, offset });
        self.groups[g].usage.push(Usage {
            used: true,
            lg_used: lg,
            holes: HoleSet::default(),
        });
        offset
    }

    fn location_try_expand_to(&mut self, u: usize, i: usize, new_lg: u32) -> bool {
        let loc = self.unions[u].data_locations[i];
        if new_lg <= loc.lg {
            return true;
        }
        let parent = self.unions[u].parent;
        if self.try_expand_data(parent, loc.lg, loc.offset, new_lg - loc.lg) {
            let l = &mut self.unions[u].data_locations[i];
            l.offset >>= new_lg - loc.lg;
            l.lg = new_lg;
            true
        } else {
            false
        }
    }

    fn try_allocate_by_expanding(&mut self, g: usize, i: usize, lg: u32) -> Option<u32> {
        let u = self.groups[g].parent;
        let usage = self.groups[g].usage[i];
        if !usage.used {
            if self.location_try_expand_to(u, i, lg) {
                let loc = self.unions[u].data_locations[i];
                let us = &mut self.groups[g].usage[i];
                us.used = true;
                us.lg_used = lg;
                Some(loc.offset << (loc.lg - lg))
            } else {
                None
            }
        } else {
            let new_size = usage.lg_used.max(lg) + 1;
            if self.try_expand_usage(g, i, new_size, true) {
                let r = self.groups[g].usage[i].holes.try_allocate(lg)?;
                let loc = self.unions[u].data_locations[i];
                Some((loc.offset << (loc.lg - lg)) + r)
            } else {
                None
            }
        }
    }

    fn try_expand_usage(&mut self, g: usize, i: usize, desired: u32, new_holes: bool) -> bool {
        let u = self.groups[g].parent;
        if desired > self.unions[u].data_locations[i].lg
            && !self.location_try_expand_to(u, i, desired)
        {
            return false;
        }
        let us = &mut self.groups[g].usage[i];
        if new_holes {
            us.holes.add_holes_at_end(us.lg_used, 1, desired);
        }
        us.lg_used = desired;
        true
    }

    fn try_expand_data(&mut self, scope: Scope, old_lg: u32, old_offset: u32, factor: u32) -> bool {
        match scope {
            Scope::Top => self.holes.try_expand(old_lg, old_offset, factor),
            Scope::Group(g) => {
                if old_lg + factor > 6 || (old_offset & ((1 << factor) - 1)) != 0 {
                    return false;
                }
                let u = self.groups[g].parent;
                for i in 0..self.groups[g].usage.len() {
                    let loc = self.unions[u].data_locations[i];
                    if loc.lg >= old_lg && old_offset >> (loc.lg - old_lg) == loc.offset {
                        let local = old_offset - (loc.offset << (loc.lg - old_lg));
                        let usage = self.groups[g].usage[i];
                        return if local == 0 && usage.lg_used == old_lg {
                            self.try_expand_usage(g, i, old_lg + factor, false)
                        } else {
                            self.groups[g].usage[i]
                                .holes
                                .try_expand(old_lg, local, factor)
                        };
                    }
                }
                false
            }
        }
    }
}

fn smallest_hole_at_least(usage: &Usage, loc: DataLocation, lg: u32) -> Option<u32> {
    if !usage.used {
        (lg <= loc.lg).then_some(loc.lg)
    } else if lg >= usage.lg_used {
        (lg < loc.lg).then_some(lg)
    } else if let Some(r) = usage.holes.smallest_at_least(lg) {
        Some(r)
    } else {
        (usage.lg_used < loc.lg).then_some(usage.lg_used)
    }
}

fn allocate_from_hole(usage: &mut Usage, loc: DataLocation, lg: u32) -> u32 {
    let result = if !usage.used {
        usage.used = true;
        usage.lg_used = lg;
        0
    } else if lg >= usage.lg_used {
        usage.holes.add_holes_at_end(usage.lg_used, 1, lg);
        usage.lg_used = lg + 1;
        1
    } else if let Some(h) = usage.holes.try_allocate(lg) {
        h
    } else {
        let r = 1 << (usage.lg_used - lg);
        usage.holes.add_holes_at_end(lg, r + 1, usage.lg_used);
        usage.lg_used += 1;
        r
    };
    (loc.offset << (loc.lg - lg)) + result
}
