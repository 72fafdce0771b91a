package rest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// OpenAPI returns the OpenAPI 3.1 description of the routes, generated from the route table:
// paths, parameters, request bodies and responses with their JSON schemas.
func (h *Handler) OpenAPI() map[string]any {
	schemas := map[string]any{
		"Error": map[string]any{"type": "object", "required": []string{"detail"}, "properties": map[string]any{
			"detail": map[string]any{"type": "string"}, "code": map[string]any{"type": "string"}}},
	}
	paths := map[string]any{}
	pathParam := regexp.MustCompile(`\{([a-z_]+)\}`)
	for _, r := range h.routes {
		op := map[string]any{"summary": r.Summary, "operationId": operationID(r)}
		if r.Op != "" {
			op["description"] = "Runs the GraphQL operation " + r.Op + ". Access: " + r.Auth + "."
		} else {
			op["description"] = "Access: " + r.Auth + "."
		}
		switch r.Auth {
		case "public":
		case authInternalKey:
			op["security"] = []any{map[string]any{"internalKey": []string{}}}
		default:
			op["security"] = []any{map[string]any{"bearer": []string{}}}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(r.Path(), -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range r.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": map[string]any{"type": q.Type}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if body := r.Body(); body != nil {
			op["requestBody"] = map[string]any{"content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(body, schemas)}}}
		}
		status := statusOr(r.Status)
		responses := map[string]any{}
		switch {
		case status == http.StatusNoContent:
			responses["204"] = map[string]any{"description": "Done"}
		case r.Reply.typ == nil:
			responses[strconv.Itoa(status)] = map[string]any{"description": "An HTML page",
				"content": map[string]any{"text/html": map[string]any{"schema": map[string]any{"type": "string"}}}}
		default:
			responses[strconv.Itoa(status)] = map[string]any{"description": "Success", "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(r.Reply.typ, schemas)}}}
		}
		for code := range errorResponses {
			responses[code] = map[string]any{"$ref": "#/components/responses/" + errorResponseName(code)}
		}
		op["responses"] = responses
		item, _ := paths[r.Path()].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[r.Path()] = item
		}
		item[strings.ToLower(r.Method())] = op
	}
	var servers []any
	for _, p := range prefixes {
		servers = append(servers, map[string]any{"url": cmp.Or(p, "/")})
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "InferiaLLM organization management (REST compatibility)", "version": "1.0.0",
			"description": "Every route runs a GraphQL operation of /graphql. The same routes are served under /api."},
		"servers": servers,
		"paths":   paths,
		"components": map[string]any{
			"schemas":   schemas,
			"responses": componentResponses(),
			"securitySchemes": map[string]any{
				"bearer":      map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
				"internalKey": map[string]any{"type": "apiKey", "in": "header", "name": InternalKeyHeader},
			},
		},
	}
}

// errorResponses are the error statuses every route may answer with.
var errorResponses = map[string]string{"400": "Refused by a rule", "401": "Missing, invalid or expired token",
	"403": "Permission denied", "404": "Not found", "409": "Conflict", "413": "Body too large",
	"422": "Malformed request", "429": "Rate limited (see Retry-After)",
	"503": "Busy or database unavailable; try again (see Retry-After)"}

func errorResponseName(code string) string { return "Error" + code }

func componentResponses() map[string]any {
	out := map[string]any{}
	for code, text := range errorResponses {
		out[errorResponseName(code)] = map[string]any{"description": text, "content": map[string]any{
			"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	return out
}

func operationID(r route) string {
	id := strings.ToLower(r.Method()) + strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_").Replace(r.Path())
	return id
}

// schemaOf returns the JSON schema of t, registering named structs in schemas.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		s := schemaOf(t.Elem(), schemas)
		if ref, ok := s["$ref"]; ok {
			return map[string]any{"oneOf": []any{map[string]any{"$ref": ref}, map[string]any{"type": "null"}}}
		}
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []any{s["type"], "null"}
		return out
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object"}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		props := map[string]any{}
		var req []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = schemaOf(f.Type, schemas)
			if !strings.Contains(opts, "omitempty") {
				req = append(req, name)
			}
		}
		s := map[string]any{"type": "object", "properties": props}
		if req != nil {
			s["required"] = req
		}
		if t.Name() == "" {
			return s
		}
		name := strings.ToUpper(t.Name()[:1]) + t.Name()[1:]
		schemas[name] = s
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// serveOpenAPI serves /openapi.json.
func (h *Handler) ServeOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(h.OpenAPI())
}
