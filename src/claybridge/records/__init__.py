"""Records Claybridge keeps, and the queries over them. Each function takes a Connection
inside a transaction the caller owns, so several can make one atomic unit of work."""
