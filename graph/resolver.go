package graph

// Resolver is the root resolver. Resolvers delegate to the workflows of Service.
type Resolver struct{ *Service }
