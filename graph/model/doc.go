// Package model holds the GraphQL input and payload types that have no ent counterpart.
package model
