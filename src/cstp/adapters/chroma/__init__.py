"""The Chroma decision store: `client` (chromadb quirks), `schema` (metadata layout and `where`),
`store` (the port), `recent` (decoded-record cache)."""
