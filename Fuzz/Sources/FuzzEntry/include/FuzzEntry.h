// See FuzzEntry.c.
