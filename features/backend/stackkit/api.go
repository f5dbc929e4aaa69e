package stackkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/master/api"
)

// API is the part of backend.Backend a real stack answers through
// master/api alone, shared by the live and cluster backends (which embed
// it): one client per identity, holding its certificate, as in production.
// Its methods are not safe for concurrent use.
type API struct {
	// Name prefixes the errors of the backend ("livebackend").
	Name string
	// Admin is the administrator's client (set once the master runs).
	Admin *api.Client
	// MasterURL and RootCAs: where the master is and the authority its
	// certificate comes from, for the impostor's client.
	MasterURL string
	RootCAs   *x509.CertPool
	// NewClient makes a client from credentials the master issued; name
	// says whose ("person-alice", "instance-<guid>").
	NewClient func(name string, creds api.Credentials) (*api.Client, error)
	// Classify maps the client's errors to the backend's classes
	// (default Classify).
	Classify func(error) error

	persons   map[string]*api.Client
	computers map[string]*api.Client
	instances map[string]*api.Client // guid -> client with its certificate
}

// Init makes the maps; it returns a.
func (a *API) Init() *API {
	a.persons, a.computers, a.instances = map[string]*api.Client{}, map[string]*api.Client{}, map[string]*api.Client{}
	if a.Classify == nil {
		a.Classify = Classify
	}
	return a
}

// Clients lists every client made, for closing their connections.
func (a *API) Clients() []*api.Client {
	var all []*api.Client
	if a.Admin != nil {
		all = append(all, a.Admin)
	}
	for _, m := range []map[string]*api.Client{a.persons, a.computers, a.instances} {
		for _, c := range m {
			all = append(all, c)
		}
	}
	return all
}

// Computer is the client of a registered computer (nil if none).
func (a *API) Computer(id string) *api.Client { return a.computers[id] }

// ClientFor returns a client holding the actor's certificate (an impostor
// gets a forged one).
func (a *API) ClientFor(ctx context.Context, as backend.Actor) (*api.Client, error) {
	if as.Impostor {
		return a.impostor(as)
	}
	switch as.Kind {
	case model.KindAdmin:
		return a.Admin, nil
	case model.KindPerson:
		if c := a.persons[as.ID]; c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("%s: person %s has no certificate here (was it added?)", a.Name, as.ID)
	case model.KindComputer:
		if c := a.computers[as.ID]; c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("%s: computer %s has no certificate here (was it registered?)", a.Name, as.ID)
	case model.KindInstance:
		return a.instanceClient(ctx, as.ID)
	}
	return nil, fmt.Errorf("%s: unknown identity kind %q", a.Name, as.Kind)
}

// instanceClient gets an instance's certificate as its node does: from
// the master, with the computer's certificate, for the partition it holds.
func (a *API) instanceClient(ctx context.Context, guid string) (*api.Client, error) {
	if c := a.instances[guid]; c != nil {
		return c, nil
	}
	inst, err := a.Admin.Instance(ctx, guid)
	if err != nil {
		return nil, a.Classify(fmt.Errorf("finding instance %s: %w", guid, err))
	}
	cc := a.computers[inst.ComputerID]
	if inst.PartitionID == "" || cc == nil {
		return nil, fmt.Errorf("%s: instance %s holds no partition of a computer of this grid: it has no certificate", a.Name, guid)
	}
	creds, err := cc.PartitionCertificate(ctx, inst.ComputerID, inst.PartitionID)
	if err != nil {
		return nil, a.Classify(fmt.Errorf("certificate of %s: %w", guid, err))
	}
	c, err := a.NewClient("instance-"+guid, creds)
	if err != nil {
		return nil, err
	}
	a.instances[guid] = c
	return c, nil
}

// impostor is a client whose certificate names the actor but comes from
// a certificate authority the master never heard of; it trusts the real
// master (only its own certificate is forged).
func (a *API) impostor(as backend.Actor) (*api.Client, error) {
	cert, err := ForgeCertificate(as)
	if err != nil {
		return nil, err
	}
	return api.NewClientTLS(a.MasterURL, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: a.RootCAs,
		Certificates: []tls.Certificate{cert}})
}

// AddPerson adds a person and keeps its credentials.
func (a *API) AddPerson(ctx context.Context, as backend.Actor, id string) error {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return err
	}
	res, err := c.AddPerson(ctx, api.AddPersonRequest{ID: id})
	if err != nil {
		return a.Classify(err)
	}
	pc, err := a.NewClient("person-"+res.Person.ID, res.Credentials)
	if err != nil {
		return err
	}
	a.persons[res.Person.ID] = pc
	return nil
}

// RegisterComputer registers a computer as someone, keeps its client and
// returns the credentials its node needs.
func (a *API) RegisterComputer(ctx context.Context, as backend.Actor, spec backend.ComputerSpec) (api.Credentials, error) {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return api.Credentials{}, err
	}
	owner := ""
	if as.Kind == model.KindAdmin {
		owner = spec.Owner
	}
	reg, err := c.RegisterComputer(ctx, api.RegisterComputerRequest{ID: spec.ID, Owner: owner, Region: spec.Region,
		Network: spec.Network, Attributes: spec.Attributes, Prices: spec.Prices, Currency: spec.Currency, Scope: spec.Scope})
	if err != nil {
		return api.Credentials{}, a.Classify(err)
	}
	if reg.Credentials == nil {
		return api.Credentials{}, fmt.Errorf("%s: registering %s returned no credentials", a.Name, spec.ID)
	}
	cc, err := a.NewClient("computer-"+spec.ID, *reg.Credentials)
	if err != nil {
		return api.Credentials{}, err
	}
	a.computers[spec.ID] = cc
	return *reg.Credentials, nil
}

// Supply asks a computer for a release (or its removal).
func (a *API) Supply(ctx context.Context, as backend.Actor, computerID, url string, state model.SoftwareRequest) error {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return err
	}
	_, err = c.Supply(ctx, computerID, api.SupplyRequest{URL: url, State: state})
	return a.Classify(err)
}

// Software is the master's record of a computer's software.
func (a *API) Software(ctx context.Context, computerID string) ([]model.SoftwareInstallation, error) {
	d, err := a.Admin.ComputerDetails(ctx, computerID)
	return d.Software, a.Classify(err)
}

// Partitions is the master's record of a computer's partitions.
func (a *API) Partitions(ctx context.Context, computerID string) ([]model.Partition, error) {
	d, err := a.Admin.ComputerDetails(ctx, computerID)
	return d.Partitions, a.Classify(err)
}

// ComputerView reads a computer's view as someone.
func (a *API) ComputerView(ctx context.Context, as backend.Actor, computerID string) (model.ComputerView, error) {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return model.ComputerView{}, err
	}
	v, _, _, err := c.ComputerView(ctx, computerID, "")
	if err != nil {
		return model.ComputerView{}, a.Classify(err)
	}
	if v == nil {
		return model.ComputerView{}, fmt.Errorf("%s: the view of %s came back empty", a.Name, computerID)
	}
	return *v, nil
}

// ReportPartition reports a partition's state as someone.
func (a *API) ReportPartition(ctx context.Context, as backend.Actor, computerID, partitionID string, state model.ReportedState) error {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return err
	}
	return a.Classify(c.ReportPartition(ctx, computerID, partitionID, api.PartitionStateRequest{State: state}))
}

// Request requests an instance.
func (a *API) Request(ctx context.Context, as backend.Actor, spec backend.RequestSpec) (api.Instance, error) {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return api.Instance{}, err
	}
	inst, err := c.Request(ctx, api.InstanceRequest{Title: spec.Title, SoftwareRelease: spec.SoftwareRelease,
		SoftwareType: spec.SoftwareType, Parameters: spec.Parameters, SLA: spec.SLA, Shared: spec.Shared, State: spec.State})
	return inst, a.Classify(err)
}

// Instances lists what someone may see.
func (a *API) Instances(ctx context.Context, as backend.Actor) ([]api.Instance, error) {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return nil, err
	}
	list, err := c.Instances(ctx)
	return list, a.Classify(err)
}

// Instance reads an instance as someone.
func (a *API) Instance(ctx context.Context, as backend.Actor, guid string) (api.Instance, error) {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return api.Instance{}, err
	}
	inst, err := c.Instance(ctx, guid)
	return inst, a.Classify(err)
}

// Bang asks for an instance's tree to be processed again.
func (a *API) Bang(ctx context.Context, as backend.Actor, guid string) error {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return err
	}
	_, err = c.Bang(ctx, guid, "asked by a scenario")
	return a.Classify(err)
}

// Pending lists the requests waiting for a home.
func (a *API) Pending(ctx context.Context) ([]api.Pending, error) {
	list, err := a.Admin.Pending(ctx)
	return list, a.Classify(err)
}

// PostUsage posts a usage journal as someone.
func (a *API) PostUsage(ctx context.Context, as backend.Actor, computerID string, journal []byte) (api.UsageResult, error) {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return api.UsageResult{}, err
	}
	res, err := c.PostUsage(ctx, computerID, journal)
	return res, a.Classify(err)
}

// Invoices reads invoices as someone.
func (a *API) Invoices(ctx context.Context, as backend.Actor, person string, from, to time.Time) ([]api.Invoice, error) {
	c, err := a.ClientFor(ctx, as)
	if err != nil {
		return nil, err
	}
	list, err := c.Invoices(ctx, from, to, person)
	return list, a.Classify(err)
}
