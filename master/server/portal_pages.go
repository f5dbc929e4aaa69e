package server

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// --- overview ---

type overviewData struct {
	Query, Status string
	Trees         []master.InstanceTree
	Paging        paging
	Pending       []master.InstanceInfo
	PendingMore   int
	Events        []event
	Statuses      []string
}

func (overviewData) pageTitle() string { return "My instances" }

func (p *portal) overview(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := r.URL.Query()
	d := overviewData{Query: q.Get("q"), Status: q.Get("status"),
		Statuses: []string{master.StatusAllocated, master.StatusPending, master.StatusDestroyed, string(model.ReportedStarted), string(model.ReportedStopped)}}
	page := pageNumber(r)
	var total, pending int
	if err := p.s.read(r.Context(), func(st *master.State) error {
		d.Trees, total = st.InstanceTrees(v.who, master.InstanceQuery{Search: d.Query, Status: d.Status, Offset: (page - 1) * perPage, Limit: perPage})
		if len(d.Trees) == 0 && total > 0 { // past the last page: show the last
			page = (total + perPage - 1) / perPage
			d.Trees, total = st.InstanceTrees(v.who, master.InstanceQuery{Search: d.Query, Status: d.Status, Offset: (page - 1) * perPage, Limit: perPage})
		}
		d.Pending, pending = st.PendingFor(v.who, 20)
		return nil
	}); err != nil {
		p.failed(w, r, v, err)
		return
	}
	d.PendingMore = pending - len(d.Pending)
	d.Paging = newPaging(r, total)
	d.Events = p.events.recent(v.who, 15)
	p.render(w, r, http.StatusOK, "overview", v, d)
}

// --- request form ---

type requestForm struct {
	Software                                       []string
	Title, SoftwareRelease, OtherURL, SoftwareType string
	Parameters, ComputerGUID, Region, SLA, State   string
	Shared                                         bool
	Errors                                         map[string]string
	General                                        string
}

func (requestForm) pageTitle() string { return "Request an instance" }

func (p *portal) requestPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := requestForm{SoftwareType: model.DefaultSoftwareType, State: string(model.StateStarted)}
	p.s.mu.Lock()
	f.Software = p.s.state.RequestableSoftware(v.who)
	p.s.mu.Unlock()
	if len(f.Software) > 0 {
		f.SoftwareRelease = f.Software[0]
	}
	p.render(w, r, http.StatusOK, "request", v, f)
}

// keyValueLines parses "key=value" lines.
func keyValueLines(what, text string) (map[string]string, error) {
	var words []string
	for line := range strings.SplitSeq(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			words = append(words, line)
		}
	}
	if len(words) == 0 {
		return nil, nil
	}
	return model.ParseKeyValues(what, words)
}

func (p *portal) requestPost(w http.ResponseWriter, r *http.Request, v *viewer) {
	pf := r.PostForm
	f := requestForm{Title: strings.TrimSpace(pf.Get("title")), SoftwareRelease: pf.Get("software_release"),
		OtherURL: strings.TrimSpace(pf.Get("other_url")), SoftwareType: strings.TrimSpace(pf.Get("software_type")),
		Parameters: pf.Get("parameters"), ComputerGUID: strings.TrimSpace(pf.Get("computer_guid")),
		Region: strings.TrimSpace(pf.Get("region")), SLA: pf.Get("sla"), State: pf.Get("state"),
		Shared: pf.Get("shared") == "on", Errors: map[string]string{}}
	p.s.mu.Lock()
	f.Software = p.s.state.RequestableSoftware(v.who)
	p.s.mu.Unlock()
	sr := f.SoftwareRelease
	if f.OtherURL != "" {
		sr = f.OtherURL
	}
	params, err := keyValueLines("parameters", f.Parameters)
	if err != nil {
		f.Errors[master.FieldParameters] = err.Error()
	}
	sla, err := keyValueLines("sla", f.SLA)
	if err != nil {
		f.Errors[master.FieldSLA] = err.Error()
	}
	if sla == nil && (f.ComputerGUID != "" || f.Region != "") {
		sla = map[string]string{}
	}
	for k, val := range map[string]string{"computer_guid": f.ComputerGUID, "region": f.Region} {
		if val != "" {
			sla[k] = val
		}
	}
	if len(f.Errors) > 0 {
		p.render(w, r, http.StatusBadRequest, "request", v, f)
		return
	}
	res, err := p.s.exec(r.Context(), master.Request{By: v.who, Title: f.Title, SoftwareRelease: sr, SoftwareType: f.SoftwareType,
		Parameters: params, SLA: sla, Shared: f.Shared, State: model.RequestedState(f.State)}, nil)
	if err != nil {
		ae := toAPIError(err)
		if ae.status >= 500 {
			p.failed(w, r, v, err)
			return
		}
		// The form names the field: the sentinel's prefix adds nothing.
		msg := strings.TrimPrefix(ae.message, master.ErrInvalid.Error()+": ")
		if field := master.ErrorField(err); field != "" {
			if field == master.FieldSoftwareRelease && f.OtherURL != "" {
				field = "other_url"
			}
			f.Errors[field] = msg
		} else {
			f.General = msg
		}
		p.render(w, r, ae.status, "request", v, f)
		return
	}
	http.Redirect(w, r, portalPrefix+"instances/"+res.Instance.GUID+"?done=requested", http.StatusSeeOther)
}

// --- one instance ---

type kv struct{ Key, Value string }

func sortedKV(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, kv{k, m[k]})
	}
	return out
}

type instanceData struct {
	I          master.InstanceInfo
	Tree       []master.InstanceInfo
	Parameters []kv
	SLA        []kv
	Connection []kv
	Actions    []string
	Done       string
	// Events are the instance's recent events, newest first.
	Events []master.Event
}

// ConnectionJSON is the connection parameters as the live updates send
// them: the page's script reloads the page when they change.
func (d instanceData) ConnectionJSON() string {
	c := d.I.Connection
	if c == nil {
		c = map[string]string{}
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func (d instanceData) pageTitle() string { return "Instance " + d.I.Title }

// URL is the first connection parameter that looks like a URL.
func (d instanceData) URL() string {
	for _, c := range d.Connection {
		if strings.HasPrefix(c.Value, "http://") || strings.HasPrefix(c.Value, "https://") {
			return c.Value
		}
	}
	return ""
}

// actionsFor lists the state changes a viewer may ask of an instance.
func actionsFor(v *viewer, i master.InstanceInfo) []string {
	var out []string
	if v.who.Kind == model.KindPerson && i.RootTitle == "" && i.Status != master.StatusDestroyed {
		switch i.RequestedState {
		case model.StateStarted:
			out = append(out, "stop")
		case model.StateStopped:
			out = append(out, "start")
		}
		out = append(out, "destroy")
	}
	if i.Status == master.StatusAllocated {
		out = append(out, "bang")
	}
	return out
}

func (p *portal) instanceData(r *http.Request, v *viewer, guid string) (instanceData, error) {
	var d instanceData
	err := p.s.read(r.Context(), func(st *master.State) error {
		info, err := st.Instance(v.who, guid)
		if err != nil {
			return err
		}
		d.I = info
		tree, err := st.InstanceTreeOf(v.who, guid)
		if err != nil {
			return err
		}
		d.Tree = append([]master.InstanceInfo{tree.Root}, tree.Children...)
		ev, err := st.InstanceEvents(v.who, guid)
		d.Events = slices.Clone(ev)
		slices.Reverse(d.Events)
		return err
	})
	d.Parameters, d.SLA, d.Connection = sortedKV(d.I.Parameters), sortedKV(d.I.SLA), sortedKV(d.I.Connection)
	d.Actions = actionsFor(v, d.I)
	return d, err
}

func (p *portal) instancePage(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := p.instanceData(r, v, r.PathValue("guid"))
	if err != nil {
		p.failed(w, r, v, err)
		return
	}
	d.Done = r.URL.Query().Get("done")
	p.render(w, r, http.StatusOK, "instance", v, d)
}

type confirmData struct {
	I      master.InstanceInfo
	Action string
	Says   string
}

func (d confirmData) pageTitle() string { return "Confirm: " + d.Action + " " + d.I.Title }

var actionWords = map[string]string{
	"start":   "Start %s: its partition runs its processes again.",
	"stop":    "Stop %s: its processes stop, its partition and data stay.",
	"destroy": "Destroy %s and its whole tree: the partitions are wiped and given back. This cannot be undone.",
	"bang":    "Bang %s: its whole tree is processed again by its nodes.",
}

func (p *portal) confirmPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := p.instanceData(r, v, r.PathValue("guid"))
	if err != nil {
		p.failed(w, r, v, err)
		return
	}
	action := r.PathValue("action")
	if !slices.Contains(d.Actions, action) {
		p.notFound(w, r, v)
		return
	}
	p.render(w, r, http.StatusOK, "confirm", v, confirmData{I: d.I, Action: action, Says: fmt.Sprintf(actionWords[action], d.I.Title)})
}

func (p *portal) instanceAction(w http.ResponseWriter, r *http.Request, v *viewer) {
	guid, action := r.PathValue("guid"), r.PathValue("action")
	d, err := p.instanceData(r, v, guid)
	if err != nil {
		p.failed(w, r, v, err)
		return
	}
	if !slices.Contains(d.Actions, action) {
		p.notFound(w, r, v)
		return
	}
	i := d.I
	var cmd master.Command
	switch action {
	case "bang":
		cmd = master.Bang{By: v.who, InstanceGUID: guid, Message: "asked from the portal"}
	default:
		state := map[string]model.RequestedState{"start": model.StateStarted, "stop": model.StateStopped, "destroy": model.StateDestroyed}[action]
		cmd = master.Request{By: v.who, Title: i.Title, SoftwareRelease: i.SoftwareRelease, SoftwareType: i.SoftwareType,
			Parameters: i.Parameters, SLA: i.SLA, Shared: i.Shared, State: state}
	}
	if _, err := p.s.exec(r.Context(), cmd, nil); err != nil {
		p.failed(w, r, v, err)
		return
	}
	http.Redirect(w, r, portalPrefix+"instances/"+guid+"?done="+action, http.StatusSeeOther)
}

// liveState is what the instance page's script updates.
type liveState struct {
	Status         string            `json:"status"`
	RequestedState string            `json:"requested_state"`
	ReportedState  string            `json:"reported_state"`
	ReportedError  string            `json:"reported_error"`
	PendingReason  string            `json:"pending_reason"`
	Where          string            `json:"where"`
	Connection     map[string]string `json:"connection"`
}

func liveOf(i master.InstanceInfo) liveState {
	where := ""
	if i.PartitionID != "" {
		where = i.ComputerID + "/" + i.PartitionID
	}
	return liveState{Status: i.Status, RequestedState: string(i.RequestedState), ReportedState: string(cmp.Or(i.ReportedState, "—")),
		ReportedError: i.ReportedError, PendingReason: i.PendingReason, Where: where, Connection: i.Connection}
}

// liveFor bounds one live stream; the browser reconnects.
const liveFor = 5 * time.Minute

// instanceLive streams the instance's state as Server-Sent Events, one
// event per change. It ends when the session does.
func (p *portal) instanceLive(w http.ResponseWriter, r *http.Request, v *viewer) {
	guid := r.PathValue("guid")
	get := func() ([]byte, error) {
		var info master.InstanceInfo
		err := p.s.read(r.Context(), func(st *master.State) error {
			var err error
			info, err = st.Instance(v.who, guid)
			return err
		})
		if err != nil {
			return nil, err
		}
		return json.Marshal(liveOf(info))
	}
	first, err := get()
	if err != nil {
		p.failed(w, r, v, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(data []byte) bool {
		if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(first) {
		return
	}
	last := string(first)
	end := time.NewTimer(liveFor)
	defer end.Stop()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-p.stopping:
			return
		case <-end.C:
			return
		case <-beat.C:
			if v.secret != "" {
				if _, _, ok := p.sessions.lookup(v.secret, p.s.now()); !ok {
					fmt.Fprint(w, "event: signed-out\ndata: {}\n\n")
					rc.Flush()
					return
				}
			}
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-p.waitChange():
			data, err := get()
			if err != nil {
				fmt.Fprint(w, "event: gone\ndata: {}\n\n")
				rc.Flush()
				return
			}
			if string(data) != last {
				last = string(data)
				if !send(data) {
					return
				}
			}
		}
	}
}

// --- computers ---

type computersData struct {
	Query, Region string
	Rows          []master.ComputerSummary
	Paging        paging
	Now           time.Time
}

func (computersData) pageTitle() string { return "Computers" }

func (p *portal) computersPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := r.URL.Query()
	d := computersData{Query: q.Get("q"), Region: q.Get("region"), Now: p.s.now()}
	page := pageNumber(r)
	var total int
	if err := p.s.read(r.Context(), func(st *master.State) error {
		cq := master.ComputerQuery{Search: d.Query, Region: d.Region, Offset: (page - 1) * perPage, Limit: perPage}
		d.Rows, total = st.ComputerPage(v.who, cq)
		if len(d.Rows) == 0 && total > 0 { // past the last page: show the last
			cq.Offset = (total - 1) / perPage * perPage
			d.Rows, total = st.ComputerPage(v.who, cq)
		}
		return nil
	}); err != nil {
		p.failed(w, r, v, err)
		return
	}
	d.Paging = newPaging(r, total)
	p.render(w, r, http.StatusOK, "computers", v, d)
}

type computerData struct {
	C          model.Computer
	Partitions []model.Partition
	Software   []model.SoftwareInstallation
	Free, Busy int
	Chart      template.HTML
}

func (d computerData) pageTitle() string { return "Computer " + d.C.ID }

func (p *portal) computerPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	now := p.s.now()
	day := 24 * time.Hour
	end := now.Truncate(day).Add(day)
	start := end.Add(-30 * day)
	var d computerData
	var points []master.UsagePoint
	err := p.s.read(r.Context(), func(st *master.State) error {
		c, err := st.Computer(v.who, id)
		if err != nil {
			return err
		}
		d.C, d.Partitions, d.Software = c, st.Partitions(id), st.Software(id)
		points, err = st.ComputerUsage(v.who, id, start, end, now, day)
		return err
	})
	if err != nil {
		p.failed(w, r, v, err)
		return
	}
	for _, part := range d.Partitions {
		if part.Status == model.PartitionBusy {
			d.Busy++
		} else {
			d.Free++
		}
	}
	labels := make([]string, len(points))
	hours := make([]float64, len(points))
	for i, pt := range points {
		labels[i] = pt.Start.Format("01-02")
		hours[i] = pt.Quantities[account.ResourceHosting]
	}
	d.Chart = barChart("Hosting hours per day, last 30 days", labels, hours, "h")
	p.render(w, r, http.StatusOK, "computer", v, d)
}

// --- invoices ---

type invoicesData struct {
	Period, Prev, Next string
	Invoices           []account.Invoice
}

func (d invoicesData) pageTitle() string { return "Invoices " + d.Period }

// period reads ?period=YYYY-MM (default: this month).
func period(r *http.Request, now time.Time) (string, time.Time, time.Time, error) {
	v := r.URL.Query().Get("period")
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if v != "" {
		t, err := time.Parse("2006-01", v)
		if err != nil {
			return "", start, start, fmt.Errorf("%w: period %q: expected a month as YYYY-MM, such as 2026-03", master.ErrInvalid, v)
		}
		start = t
	}
	return start.Format("2006-01"), start, start.AddDate(0, 1, 0), nil
}

func (p *portal) invoices(r *http.Request, v *viewer) (invoicesData, error) {
	now := p.s.now()
	name, from, to, err := period(r, now)
	if err != nil {
		return invoicesData{}, err
	}
	d := invoicesData{Period: name, Prev: from.AddDate(0, -1, 0).Format("2006-01"), Next: to.Format("2006-01")}
	err = p.s.read(r.Context(), func(st *master.State) error {
		var err error
		d.Invoices, err = st.Invoices(v.who, "", from, to, now)
		return err
	})
	return d, err
}

func (p *portal) invoicesPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := p.invoices(r, v)
	if err != nil {
		p.failed(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "invoices", v, d)
}

func (p *portal) invoicesCSV(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := p.invoices(r, v)
	if err != nil {
		p.failed(w, r, v, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="invoices-`+d.Period+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"person", "period_start", "period_end", "currency", "resource", "unit", "quantity", "amount"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	for _, inv := range d.Invoices {
		for _, l := range inv.Lines {
			cw.Write([]string{inv.Person, inv.PeriodStart.Format(time.RFC3339), inv.PeriodEnd.Format(time.RFC3339), inv.Currency,
				csvSafe(l.Resource), l.Unit, f(l.Quantity), f(l.Amount)})
		}
		cw.Write([]string{inv.Person, inv.PeriodStart.Format(time.RFC3339), inv.PeriodEnd.Format(time.RFC3339), inv.Currency, "total", "", "", f(inv.Total)})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// --- admin: grid and people ---

type regionRow struct {
	Region                           string
	Computers, Online, Silent, Never int
	Free, Total                      int
}

type gridData struct {
	Regions      []regionRow
	Totals       regionRow
	Pending      int
	Reasons      template.HTML
	Metrics      []template.HTML
	OnlineWithin time.Duration
}

func (gridData) pageTitle() string { return "The grid" }

// silentAfter: a computer not heard from for longer counts as silent on
// the grid page (the master's online window when it has one).
const silentAfter = 10 * time.Minute

func (p *portal) gridPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	now := p.s.now()
	var d gridData
	var sums []master.ComputerSummary
	var pending []master.PendingInfo
	if err := p.s.read(r.Context(), func(st *master.State) error {
		d.OnlineWithin = cmp.Or(st.Config().OnlineWithin, silentAfter)
		sums, pending = st.ComputerSummaries(v.who), st.Pending()
		return nil
	}); err != nil {
		p.failed(w, r, v, err)
		return
	}
	regions := map[string]*regionRow{}
	for _, c := range sums {
		name := cmp.Or(c.Computer.Region, "(none)")
		row := regions[name]
		if row == nil {
			row = &regionRow{Region: name}
			regions[name] = row
		}
		for _, rr := range []*regionRow{row, &d.Totals} {
			rr.Computers++
			rr.Free += c.Free
			rr.Total += c.Total
			switch lc := c.Computer.LastContact; {
			case lc.IsZero():
				rr.Never++
			case now.Sub(lc) <= d.OnlineWithin:
				rr.Online++
			default:
				rr.Silent++
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(regions)) {
		d.Regions = append(d.Regions, *regions[k])
	}
	d.Pending = len(pending)
	counts := map[string]int{}
	for _, pi := range pending {
		counts[pi.Reason]++
	}
	reasons := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b))
	})
	if len(reasons) > 12 {
		reasons = reasons[:12]
	}
	vals := make([]float64, len(reasons))
	for i, k := range reasons {
		vals[i] = float64(counts[k])
	}
	d.Reasons = hbarChart("Pending requests by reason", reasons, vals)
	d.Metrics = p.samples.charts(p.s.sampleNow())
	p.render(w, r, http.StatusOK, "grid", v, d)
}

type personRow struct {
	P           model.Person
	Instances   int
	HasPassword bool
}

type peopleData struct {
	Query  string
	Rows   []personRow
	Paging paging
	Link   string
	For    string
}

func (peopleData) pageTitle() string { return "People" }

func (p *portal) peoplePage(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.renderPeople(w, r, v, "", "")
}

func (p *portal) renderPeople(w http.ResponseWriter, r *http.Request, v *viewer, link, forWho string) {
	d := peopleData{Query: r.URL.Query().Get("q"), Link: link, For: forWho}
	search := strings.ToLower(strings.TrimSpace(d.Query))
	var rows []personRow
	if err := p.s.read(r.Context(), func(st *master.State) error {
		for _, per := range st.Persons() {
			if search != "" && !strings.Contains(strings.ToLower(per.ID+" "+per.Name+" "+per.Email), search) {
				continue
			}
			_, has := st.PasswordHash(per.ID)
			rows = append(rows, personRow{P: per, Instances: st.Usage(per.ID).Instances, HasPassword: has})
		}
		return nil
	}); err != nil {
		p.failed(w, r, v, err)
		return
	}
	d.Paging = newPaging(r, len(rows))
	lo, hi := d.Paging.bounds()
	d.Rows = rows[lo:hi]
	p.render(w, r, http.StatusOK, "people", v, d)
}

func (p *portal) peopleLink(w http.ResponseWriter, r *http.Request, v *viewer) {
	link, err := p.s.issueSignInLink(r, v.who, r.PathValue("id"))
	if err != nil {
		p.failed(w, r, v, err)
		return
	}
	p.renderPeople(w, r, v, link.URL, link.Identity.ID)
}
