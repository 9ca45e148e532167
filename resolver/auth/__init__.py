"""Who is calling and what they may do: secrets, tokens, identities and permission checks."""
