// Package alloc is the marketplace allocator: it chooses the computer that
// hosts a new software instance, or explains, computer by computer, why none
// can.
//
// It is built like Nomad's scheduler: a pipeline of small feasibility filters,
// each with one reason to exist, then a ranking policy among the computers
// that passed them all. It is pure and deterministic: no I/O, no clock (Now
// comes in Options), no shared randomness (PolicyRandom derives its seed from
// Request.Key), so the master and the simulator take the same decisions on
// the same inputs.
//
// # Contract
//
// Place(cands, req, opts) returns either a Decision (an index into cands)
// or a *Rejection counting every examined candidate once, at the first
// filter it failed, so that the counts add up to Considered and read as an
// explanation: "12 computers: 3 no free partition, 9 region!=jp". A
// Rejection unwraps to ErrNoPlacement. Place reads the candidates and never
// changes them; on success it does not allocate.
//
// Place is Choose (the decision, cheap: a failing candidate usually costs a
// compare or two) then, on failure, Explain (every filter of every
// candidate). A caller that keeps many requests waiting may call them
// apart, and Feasible to test one candidate that changed.
//
// # Caller's duties
//
//  1. Keep one *Candidate per computer, up to date (Free, Software,
//     LastContact, Scope, Price, ...), in a slice sorted by computer ID:
//     that order is first-fit's order and every policy's tie-break.
//  2. Parse the SLA with model.ParseSLA: the allocator trusts it (unknown
//     keys were refused there). instance_guid (shared instances) and
//     retention_delay are not placement conditions and are ignored here.
//  3. Fill Request.TreeNetworks with the networks of the computers already
//     hosting the tree ("" for a computer that declares none) and set
//     Request.Key to the request's stable identity.
//  4. Apply a Decision: take a partition on cands[d.Index] and decrement its
//     Free before the next Place; the allocator does not reserve anything.
//  5. Keep a failed request pending with Rejection.Error() as its reason and
//     try again when capacity changes.
//
// # The pipeline
//
// A request that pins a computer (SLA computer_guid) only considers that
// computer (Considered is 1); a pin to an unregistered computer rejects
// every candidate as "computer_guid!=X". Every other request goes through
// the filters below, in this order, which is the order of explanations:
// facts the requester cannot change first, then capacity, then the
// requester's own conditions. A computer counted against one of the
// requester's conditions therefore passed everything before it: relaxing
// that condition is what could make it usable.
//
//  1. computer_guid: a pin is the strongest statement a requester can make;
//     it narrows the pipeline to one computer, whose refusal the other
//     filters then explain.
//  2. scope ("closed scope"): a provider may keep a computer for himself; a
//     closed computer is used only when its owner pins it. First of the
//     facts, because closed capacity is not on the market at all.
//  3. online ("offline"): a computer that stopped polling would never deploy
//     the instance; nothing else about it matters (only when OnlineWithin>0).
//  4. software ("software not supplied"): a node only runs the software its
//     provider supplied on it; supplying is the provider's decision, not the
//     requester's, so it comes before capacity.
//  5. free partition ("no free partition"): capacity; a full computer with
//     the right software means "add partitions", not "change your SLA".
//  6. region, arch ("region!=jp", "arch!=x86_64"): where and on what the
//     requester wants to run.
//  7. min_ram, min_cpu, min_disk ("ram<4096", "cpu<4", "disk<100"): how big.
//  8. max_price ("price>0.5"): what the requester will pay, judged once the
//     computer is known to fit.
//  9. network ("network!=lan1"), then unique_by_network ("network used by
//     tree"): topology; uniqueness depends on the rest of the tree, so it
//     comes after the fixed network condition.
//  10. attr.<name>=<value> ("attr.gpu!=yes"): free-form conditions last, in
//     key order; the attribute must be present with exactly that value.
//
// NB the order above is the order of explanation only. To decide, Place runs
// the same filters cheapest first (integer compares, then string compares,
// then map lookups), skips a condition the SLA does not set without touching
// the candidate, and lets a policy skip candidates its rank key already rules
// out. Only when nothing fits does it walk the candidates again in pipeline
// order to count the rejections.
//
// # Ranking
//
// PolicyFirstFit (default) takes the first feasible candidate in slice
// order; PolicyCheapest the lowest Price (NaN ranks last); PolicyPack the
// fewest free partitions; PolicySpread the most; ties go to the earlier
// candidate. PolicyRandom draws uniformly among the feasible candidates
// with a PCG seeded from the FNV-64a hash of Request.Key: up to 32 uniform
// probes among all candidates (the first feasible one wins), then, if all
// missed, the r-th feasible candidate for r uniform in [0, n).
//
// Cost: first-fit stops at the first feasible candidate, pack at the first
// with one free partition, and random usually after a few probes; cheapest,
// pack and spread compare the rank key before running the filters, so only
// candidates that would rank better pay for them.
//
// # Index
//
// Choose still examines every candidate for spread and pack (to know that
// none ranks better) and every full one before first-fit's choice. A
// caller that places often on many computers keeps an Index of its slice
// instead: the candidates grouped by free partitions, updated (Update) when
// one's Free changes and built again when the slice changes. Index.Choose
// walks the groups in rank order and stops at the first feasible
// candidate, so it examines only candidates that rank at least as well as
// the choice; its decision is Choose's, tie-breaks included. Explain is
// unchanged: an explanation counts every candidate anyway.
package alloc
