package features

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
)

// Computers, their formats and the software supplied to them.
func registerComputerSteps(sc *godog.ScenarioContext) {
	sc.Step(`^a software release "([^"]+)"$`, aSoftwareRelease)
	sc.Step(`^a software release "([^"]+)" whose profile uses an unknown recipe$`, aSoftwareReleaseWithUnknownRecipe)
	sc.Step(`^a software release "([^"]+)" whose profile does not parse$`, aSoftwareReleaseThatDoesNotParse)
	sc.Step(`^a software release "([^"]+)" that takes `+durationPattern+` to build$`, aSlowSoftwareRelease)

	sc.Step(`^a computer "([^"]+)" of "([^"]+)" with (\d+) partitions?$`, aComputer)
	sc.Step(`^a computer "([^"]+)" of "([^"]+)" with (\d+) partitions? and:$`, aComputerWith)
	sc.Step(`^(\d+) computers "([^"]+)" of "([^"]+)" in region "([^"]+)" with (\d+) partitions each, supplied with "([^"]+)"$`, manyComputers)
	sc.Step(`^`+actorPattern+` registers a computer "([^"]*)" with (\d+) partitions?$`, registersAComputer)
	sc.Step(`^`+actorPattern+` registers a computer "([^"]*)" with (\d+) partitions? and:$`, registersAComputerWith)

	sc.Step(`^`+actorPattern+` supplies "([^"]+)" on "([^"]+)"$`, supplies)
	sc.Step(`^`+actorPattern+` supplies the URL "([^"]*)" on "([^"]+)"$`, suppliesTheURL)
	sc.Step(`^`+actorPattern+` removes "([^"]+)" from "([^"]+)"$`, removes)

	sc.Step(`^the software "([^"]+)" on "([^"]+)" is reported (building|available|destroyed)$`, softwareIsReported)
	sc.Step(`^the software "([^"]+)" on "([^"]+)" is reported in error mentioning "([^"]+)"$`, softwareIsReportedInError)
	sc.Step(`^no software is supplied on "([^"]+)"$`, noSoftwareSupplied)
	sc.Step(`^(\d+) partitions? of "([^"]+)" (?:is|are) (free|busy)$`, partitionsAre)
	sc.Step(`^configuring a partition takes `+durationPattern+`$`, configuringTakes)
}

func defineSoftware(ctx context.Context, spec backend.SoftwareSpec) error {
	s := scenarioOf(ctx)
	url, err := s.be.DefineSoftware(ctx, spec)
	if err != nil {
		return err
	}
	s.software[spec.Name] = url
	return nil
}

func aSoftwareRelease(ctx context.Context, name string) error {
	return defineSoftware(ctx, backend.SoftwareSpec{Name: name})
}

func aSoftwareReleaseWithUnknownRecipe(ctx context.Context, name string) error {
	return defineSoftware(ctx, backend.SoftwareSpec{Name: name, Defect: backend.DefectUnknownRecipe})
}

func aSoftwareReleaseThatDoesNotParse(ctx context.Context, name string) error {
	return defineSoftware(ctx, backend.SoftwareSpec{Name: name, Defect: backend.DefectSyntax})
}

func aSlowSoftwareRelease(ctx context.Context, name string, n int, unit string) error {
	d, err := duration(n, unit)
	if err != nil {
		return err
	}
	return defineSoftware(ctx, backend.SoftwareSpec{Name: name, BuildTime: d})
}

// computerSpec reads a computer's settings from a | key | value | table:
// region, network, currency, scope, price <resource>, attr <name>.
func computerSpec(id, owner string, parts int, t *godog.Table) (backend.ComputerSpec, error) {
	spec := backend.ComputerSpec{ID: id, Owner: owner, Partitions: parts}
	if t == nil {
		return spec, nil
	}
	rs, err := rows(t)
	if err != nil {
		return spec, err
	}
	for _, r := range rs {
		k, v := r[0], r[1]
		switch {
		case k == "region":
			spec.Region = v
		case k == "network":
			spec.Network = v
		case k == "currency":
			spec.Currency = v
		case k == "scope":
			spec.Scope = model.Scope(v)
		case strings.HasPrefix(k, "price "):
			p, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return spec, fmt.Errorf("computer %s: %s %q is not a number", id, k, v)
			}
			if spec.Prices == nil {
				spec.Prices = model.PriceList{}
			}
			spec.Prices[strings.TrimPrefix(k, "price ")] = p
		case strings.HasPrefix(k, "attr "):
			if spec.Attributes == nil {
				spec.Attributes = map[string]string{}
			}
			spec.Attributes[strings.TrimPrefix(k, "attr ")] = v
		default:
			return spec, fmt.Errorf("computer %s: setting %q: expected region, network, currency, scope, price <resource> or attr <name>", id, k)
		}
	}
	return spec, nil
}

func registerComputer(ctx context.Context, spec backend.ComputerSpec) error {
	s := scenarioOf(ctx)
	if err := s.be.RegisterComputer(ctx, backend.Person(spec.Owner), spec); err != nil {
		return err
	}
	s.computers[spec.ID] = spec
	return nil
}

func aComputer(ctx context.Context, id, owner string, parts int) error {
	spec, _ := computerSpec(id, owner, parts, nil)
	return registerComputer(ctx, spec)
}

func aComputerWith(ctx context.Context, id, owner string, parts int, t *godog.Table) error {
	spec, err := computerSpec(id, owner, parts, t)
	if err != nil {
		return err
	}
	return registerComputer(ctx, spec)
}

func manyComputers(ctx context.Context, count int, prefix, owner, region string, parts int, software string) error {
	s := scenarioOf(ctx)
	url, err := s.softwareURL(software)
	if err != nil {
		return err
	}
	for i := 1; i <= count; i++ {
		spec := backend.ComputerSpec{ID: prefix + strconv.Itoa(i), Owner: owner, Region: region, Partitions: parts}
		if err := registerComputer(ctx, spec); err != nil {
			return err
		}
		if err := s.be.Supply(ctx, backend.Person(owner), spec.ID, url, model.SoftwareAvailable); err != nil {
			return err
		}
	}
	return nil
}

func registersAComputer(ctx context.Context, who, id string, parts int) error {
	return registersAComputerWith(ctx, who, id, parts, nil)
}

func registersAComputerWith(ctx context.Context, who, id string, parts int, t *godog.Table) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	spec, err := computerSpec(id, as.ID, parts, t)
	if err != nil {
		return err
	}
	err = s.be.RegisterComputer(ctx, as, spec)
	if err == nil {
		s.computers[id] = spec
	}
	s.record(err)
	return nil
}

func supplyURL(ctx context.Context, who, url, computerID string, state model.SoftwareRequest) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	s.record(s.be.Supply(ctx, as, computerID, url, state))
	return nil
}

func supplies(ctx context.Context, who, software, computerID string) error {
	url, err := scenarioOf(ctx).softwareURL(software)
	if err != nil {
		return err
	}
	return supplyURL(ctx, who, url, computerID, model.SoftwareAvailable)
}

func suppliesTheURL(ctx context.Context, who, url, computerID string) error {
	return supplyURL(ctx, who, url, computerID, model.SoftwareAvailable)
}

func removes(ctx context.Context, who, software, computerID string) error {
	url, err := scenarioOf(ctx).softwareURL(software)
	if err != nil {
		return err
	}
	return supplyURL(ctx, who, url, computerID, model.SoftwareDestroyed)
}

func installation(ctx context.Context, software, computerID string) (model.SoftwareInstallation, error) {
	s := scenarioOf(ctx)
	url, err := s.softwareURL(software)
	if err != nil {
		return model.SoftwareInstallation{}, err
	}
	list, err := s.be.Software(ctx, computerID)
	if err != nil {
		return model.SoftwareInstallation{}, err
	}
	for _, sw := range list {
		if sw.URL == url {
			return sw, nil
		}
	}
	return model.SoftwareInstallation{}, fmt.Errorf("software %q is not supplied on %s", software, computerID)
}

func softwareIsReported(ctx context.Context, software, computerID, state string) error {
	sw, err := installation(ctx, software, computerID)
	if err != nil {
		return err
	}
	if string(sw.Reported) != state {
		return fmt.Errorf("software %q on %s is reported %q (error %q), expected %q", software, computerID, sw.Reported, sw.ReportedError, state)
	}
	return nil
}

func softwareIsReportedInError(ctx context.Context, software, computerID, words string) error {
	sw, err := installation(ctx, software, computerID)
	if err != nil {
		return err
	}
	if sw.Reported != model.SoftwareError {
		return fmt.Errorf("software %q on %s is reported %q, expected error", software, computerID, sw.Reported)
	}
	if !strings.Contains(strings.ToLower(sw.ReportedError), strings.ToLower(words)) {
		return fmt.Errorf("the error of software %q on %s does not mention %q: %q", software, computerID, words, sw.ReportedError)
	}
	return nil
}

func noSoftwareSupplied(ctx context.Context, computerID string) error {
	s := scenarioOf(ctx)
	list, err := s.be.Software(ctx, computerID)
	if err != nil {
		return err
	}
	for _, sw := range list {
		if sw.Requested == model.SoftwareAvailable {
			return fmt.Errorf("%s has %s supplied", computerID, sw.URL)
		}
	}
	return nil
}

func partitionsAre(ctx context.Context, n int, computerID, status string) error {
	s := scenarioOf(ctx)
	parts, err := s.be.Partitions(ctx, computerID)
	if err != nil {
		return err
	}
	count := 0
	for _, p := range parts {
		if string(p.Status) == status {
			count++
		}
	}
	if count != n {
		return fmt.Errorf("%s has %d %s partitions out of %d, expected %d", computerID, count, status, len(parts), n)
	}
	return nil
}

func configuringTakes(ctx context.Context, n int, unit string) error {
	d, err := duration(n, unit)
	if err != nil {
		return err
	}
	return scenarioOf(ctx).be.SetTimings(backend.Timings{Configure: d})
}
