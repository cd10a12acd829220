-- Creates forklift's two databases in the compose Postgres (source stand-in and warehouse).
CREATE DATABASE forklift_source;
CREATE DATABASE forklift_warehouse;
