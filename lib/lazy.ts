/**
 * Heavy packages, loaded on first use (Node caches each after that). A command that never talks
 * to Temporal or a database — `heal --help`, `heal spec`, `heal pipelines` — never pays for them:
 * together they are most of the CLI's start-up time.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- lazy loads of heavy modules, typed by their type-only imports */
import type * as DuckDBPackage from '@duckdb/node-api';
import type * as PgPackage from 'pg';
import type * as TemporalClientPackage from '@temporalio/client';
import type * as TemporalProtoPackage from '@temporalio/proto';

export const duckdbPackage = (): typeof DuckDBPackage => require('@duckdb/node-api') as typeof DuckDBPackage;
export const pgPackage = (): typeof PgPackage => require('pg') as typeof PgPackage;
export const temporalClient = (): typeof TemporalClientPackage =>
  require('@temporalio/client') as typeof TemporalClientPackage;
export const temporalProto = (): typeof TemporalProtoPackage =>
  require('@temporalio/proto') as typeof TemporalProtoPackage;
