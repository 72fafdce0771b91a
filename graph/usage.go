package graph

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/inferiallm/orgserver/ent"
	"github.com/inferiallm/orgserver/ent/apikey"
	"github.com/inferiallm/orgserver/ent/organization"
	"github.com/inferiallm/orgserver/ent/privacy"
	"github.com/inferiallm/orgserver/ent/usagerecord"
	"github.com/inferiallm/orgserver/graph/model"
)

// MaxUsageReports is the most usage reports one request may carry.
const MaxUsageReports = 500

// maxUsageCount bounds requests and tokens of one report: far above a day of any key, below
// 2^53 so that JSON readers using doubles read it exactly.
const maxUsageCount = 1e15

// dayLayout is the form of a usage day: a UTC date.
const dayLayout = "2006-01-02"

// UsageReport is what the inference gateway reports for one API key of an organization, one UTC
// day and one model: the day's totals so far. A report for a key, day and model replaces the
// one before it, so a report sent again (a retry) counts once.
type UsageReport struct {
	OrganizationID uuid.UUID
	APIKeyID       uuid.UUID
	KeyPrefix      string
	KeyName        string
	Day            string
	Model          string
	Requests       int64
	Tokens         int64
}

// RecordUsage stores the inference gateway's usage reports in one transaction: all of them, or
// none when one is invalid. The caller has authenticated the gateway; there is no viewer. The
// error is an *Error, safe to show.
func (s *Service) RecordUsage(ctx context.Context, reports []UsageReport) error {
	err := s.inTx(ctx, func(ctx context.Context) error { return s.recordUsage(ctx, reports) })
	if err == nil {
		return nil
	}
	e, internal := classify(ctx, err)
	if internal {
		s.Logger.ErrorContext(ctx, "recording usage", "err", err)
	}
	return e
}

// recordUsage is RecordUsage's recipe:
//  1. Check every report; of two for the same key, day and model, the later one counts.
//  2. Check that their organizations exist.
//  3. Upsert them all in one statement on the unique (organization, key, day, model).
func (s *Service) recordUsage(ctx context.Context, reports []UsageReport) error {
	if len(reports) == 0 {
		return invalidInput("No usage reports")
	}
	if len(reports) > MaxUsageReports {
		return invalidInput("At most %d usage reports per request", MaxUsageReports)
	}
	type key struct {
		org, apiKey uuid.UUID
		day, model  string
	}
	latest := map[key]int{}
	var orgs []uuid.UUID
	for i, r := range reports {
		if err := s.checkUsageReport(r); err != nil {
			return invalidInput("Report %d: %s", i, err.Message)
		}
		latest[key{r.OrganizationID, r.APIKeyID, r.Day, r.Model}] = i
		if !slices.Contains(orgs, r.OrganizationID) {
			orgs = append(orgs, r.OrganizationID)
		}
	}
	// The gateway is not a viewer of any organization; the internal API key authenticated it,
	// for every organization.
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	db := s.db(ctx)
	known, err := db.Organization.Query().Where(organization.IDIn(orgs...)).IDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range orgs {
		if !slices.Contains(known, id) {
			return invalidInput("Unknown organization %s", id)
		}
	}
	// A report of one organization's API key under another's is refused: usage is shown by
	// organization, and a key belongs to one.
	reported := map[uuid.UUID]bool{}
	for k := range latest {
		reported[k.apiKey] = true
	}
	owned, err := db.APIKey.Query().Where(apikey.IDIn(slices.Collect(maps.Keys(reported))...)).
		Select(apikey.FieldID, apikey.FieldOrganizationID).All(ctx)
	if err != nil {
		return err
	}
	orgOf := make(map[uuid.UUID]uuid.UUID, len(owned))
	for _, k := range owned {
		orgOf[k.ID] = k.OrganizationID
	}
	for i, r := range reports {
		if org, ok := orgOf[r.APIKeyID]; ok && org != r.OrganizationID {
			return invalidInput("Report %d: API key %s is not one of organization %s", i, r.APIKeyID, r.OrganizationID)
		}
	}
	now := s.now()
	var creates []*ent.UsageRecordCreate
	for i, r := range reports {
		if latest[key{r.OrganizationID, r.APIKeyID, r.Day, r.Model}] != i {
			continue
		}
		creates = append(creates, db.UsageRecord.Create().
			SetOrganizationID(r.OrganizationID).
			SetAPIKeyID(r.APIKeyID).
			SetKeyPrefix(r.KeyPrefix).
			SetKeyName(r.KeyName).
			SetDay(r.Day).
			SetModel(r.Model).
			SetRequests(r.Requests).
			SetTokens(r.Tokens).
			SetCreatedAt(now).
			SetUpdatedAt(now))
	}
	return db.UsageRecord.CreateBulk(creates...).
		OnConflictColumns(usagerecord.FieldOrganizationID, usagerecord.FieldAPIKeyID, usagerecord.FieldDay, usagerecord.FieldModel).
		UpdateKeyPrefix().UpdateKeyName().UpdateRequests().UpdateTokens().UpdateUpdatedAt().
		Exec(ctx)
}

// checkUsageReport checks one report: its references, its day (a date, not after tomorrow:
// the gateway's clock may run ahead), its texts and its counts.
func (s *Service) checkUsageReport(r UsageReport) *Error {
	day, err := time.Parse(dayLayout, r.Day)
	switch {
	case r.OrganizationID == uuid.Nil:
		return invalidInput("organization_id is required")
	case r.APIKeyID == uuid.Nil:
		return invalidInput("api_key_id is required")
	case err != nil || day.Format(dayLayout) != r.Day:
		return invalidInput("day must be a date, YYYY-MM-DD")
	case day.After(s.now().AddDate(0, 0, 1)):
		return invalidInput("day %s is in the future", r.Day)
	}
	for _, f := range []struct {
		name, value string
		required    bool
		max         int
	}{
		{"key_prefix", r.KeyPrefix, true, 64},
		{"key_name", r.KeyName, false, 200},
		{"model", r.Model, true, 200},
	} {
		switch {
		case f.required && strings.TrimSpace(f.value) == "":
			return invalidInput("%s is required", f.name)
		case !utf8.ValidString(f.value) || strings.ContainsRune(f.value, 0):
			return invalidInput("%s must be text", f.name)
		case utf8.RuneCountInString(f.value) > f.max:
			return invalidInput("%s must be at most %d characters", f.name, f.max)
		}
	}
	for _, n := range []struct {
		name  string
		value int64
	}{{"requests", r.Requests}, {"tokens", r.Tokens}} {
		if n.value < 0 || n.value > maxUsageCount {
			return invalidInput("%s must be a whole number from 0 to %d", n.name, int64(maxUsageCount))
		}
	}
	return nil
}

// usageToday is today's (UTC) usage of each API key of the organization (the active one: the
// directive checked), summed over models, most tokens first. A key's name and prefix are the
// key's own when it is one of the organization's API keys, else those of its latest report.
func (s *Service) usageToday(ctx context.Context, obj *ent.Organization) ([]*model.APIKeyUsage, error) {
	rows, err := s.db(ctx).UsageRecord.Query().
		Where(usagerecord.OrganizationID(obj.ID), usagerecord.Day(s.now().Format(dayLayout))).
		Order(ent.Asc(usagerecord.FieldUpdatedAt)).All(ctx)
	if err != nil || len(rows) == 0 {
		return []*model.APIKeyUsage{}, err
	}
	ids := map[uuid.UUID]bool{}
	for _, r := range rows {
		ids[r.APIKeyID] = true
	}
	// The organization's keys among them, read past the keys' privacy rule: usage is shown to
	// organization:view, and a key's name and prefix are not its secret.
	keys, err := s.db(ctx).APIKey.Query().
		Where(apikey.OrganizationID(obj.ID), apikey.IDIn(slices.Collect(maps.Keys(ids))...)).
		Select(apikey.FieldID, apikey.FieldName, apikey.FieldPrefix).All(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return nil, err
	}
	named := make(map[uuid.UUID]*ent.APIKey, len(keys))
	for _, k := range keys {
		named[k.ID] = k
	}
	for _, r := range rows {
		if k, ok := named[r.APIKeyID]; ok {
			r.KeyName, r.KeyPrefix = k.Name, k.Prefix
		}
	}
	byKey := map[uuid.UUID]*model.APIKeyUsage{}
	out := []*model.APIKeyUsage{}
	for _, r := range rows {
		u := byKey[r.APIKeyID]
		if u == nil {
			u = &model.APIKeyUsage{APIKeyID: r.APIKeyID}
			byKey[r.APIKeyID] = u
			out = append(out, u)
		}
		u.KeyName, u.KeyPrefix = r.KeyName, r.KeyPrefix
		u.Requests += int(r.Requests)
		u.Tokens += int(r.Tokens)
	}
	slices.SortFunc(out, func(a, b *model.APIKeyUsage) int {
		return cmp.Or(cmp.Compare(b.Tokens, a.Tokens), cmp.Compare(a.KeyName, b.KeyName), cmp.Compare(a.KeyPrefix, b.KeyPrefix))
	})
	return out, nil
}
