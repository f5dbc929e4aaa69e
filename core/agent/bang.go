package agent

// Deployment is what a partition runs: an instance at a version.
type Deployment struct {
	InstanceGUID string
	Version      uint64
}

// Bangs decides which deaths of a partition's services bang its instance
// (ask the master to reprocess its tree): a service that dies bangs its
// instance at most once per deployment, so a service that keeps dying
// does not bang its tree in a loop; a new version (the bang's own, say)
// may bang again. It is not safe for concurrent use: the supervisor's
// callbacks and the instance worker share it under the caller's lock.
type Bangs struct {
	deployed map[string]Deployment
	banged   map[string]uint64 // partition -> version that banged
}

// NewBangs returns an empty Bangs.
func NewBangs() *Bangs {
	return &Bangs{deployed: map[string]Deployment{}, banged: map[string]uint64{}}
}

// Deployed records that the partition's programs run d (started, or
// restarted at boot).
func (b *Bangs) Deployed(partition string, d Deployment) { b.deployed[partition] = d }

// Stopped records that the partition's programs were stopped: a death
// bangs nothing.
func (b *Bangs) Stopped(partition string) { delete(b.deployed, partition) }

// Forget drops what is known of a partition (destroyed): its next
// instance may bang.
func (b *Bangs) Forget(partition string) {
	delete(b.deployed, partition)
	delete(b.banged, partition)
}

// ServiceDied records that a service of the partition died and says
// whether its instance is to be banged, and which.
func (b *Bangs) ServiceDied(partition string) (Deployment, bool) {
	d, ok := b.deployed[partition]
	if !ok {
		return Deployment{}, false
	}
	if v, done := b.banged[partition]; done && v == d.Version {
		return Deployment{}, false
	}
	b.banged[partition] = d.Version
	return d, true
}
