#!/usr/bin/env node
// Converts the reference's concept catalog (concept_labels.parquet, as Hugging
// Face serves it) to the label CSV the runtime reads (concept_idx, head,
// concept_name, and the optional columns it knows).
//
// Why a converter and not a reader in the runtime: Debian 12 has no Arrow or
// Parquet library for C++, and a hand-written Parquet decoder (Thrift
// metadata, dictionary/RLE pages, Snappy) would be a large surface for a
// one-time conversion. hyparquet (npm, pure JavaScript, no dependencies) is
// a well-kept reader and npm is reachable; the runtime tells users to run
// this when given a .parquet file.
//
// The catalog numbers discovered (unknown-head) concepts after the known
// ones (Steerling-8B: known 0..33731, discovered 33732..134927); the CSV
// numbers each head from 0. Unknown ids are rebased by the number of known
// rows when every one of them is at least that (--keep-ids turns this off).
//
// usage: node scripts/labels-from-parquet.mjs IN.parquet OUT.csv [--keep-ids]
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet'
import { writeFileSync, renameSync } from 'fs'

const args = process.argv.slice(2)
const keepIds = args.includes('--keep-ids')
const [input, output] = args.filter(a => a !== '--keep-ids')
if (!input || !output) {
  console.error('usage: labels-from-parquet.mjs IN.parquet OUT.csv [--keep-ids]')
  process.exit(2)
}

function fail(message) {
  console.error(`labels-from-parquet: error: ${input}: ${message}`)
  process.exit(2)
}

let rows
try {
  rows = await parquetReadObjects({ file: await asyncBufferFromFile(input) })
} catch (e) {
  fail(`not a readable parquet file (${e.message})`)
}
if (rows.length === 0) fail('the catalog has no rows')
const idKey = 'concept_id' in rows[0] ? 'concept_id' : 'concept_idx'
for (const key of [idKey, 'head', 'concept_name'])
  if (!(key in rows[0])) fail(`no column '${key}' (columns: ${Object.keys(rows[0]).join(', ')})`)

const optional = ['concept_description', 'public_group_id', 'group_name',
  'is_steerable', 'is_tone', 'is_alignment', 'is_demographic']
  .filter(k => k in rows[0])
const columns = ['concept_idx', 'head', 'concept_name', ...optional]

const known = rows.filter(r => r.head === 'known')
const unknown = rows.filter(r => r.head === 'unknown')
if (known.length + unknown.length !== rows.length)
  fail("every row's head must be 'known' or 'unknown'")
const offset = !keepIds && unknown.length > 0 &&
  unknown.every(r => Number(r[idKey]) >= known.length) ? known.length : 0

function cell(v) {
  if (v === null || v === undefined) return ''
  const s = typeof v === 'bigint' ? v.toString() : String(v)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

const lines = [columns.join(',')]
for (const r of rows) {
  const id = Number(r[idKey]) - (r.head === 'unknown' ? offset : 0)
  if (!Number.isSafeInteger(id) || id < 0) fail(`row with ${idKey} ${r[idKey]} has no valid id`)
  lines.push([id, r.head, ...columns.slice(2).map(k => r[k])].map(cell).join(','))
}
const tmp = `${output}.tmp.${process.pid}`
writeFileSync(tmp, lines.join('\n') + '\n')
renameSync(tmp, output)
console.log(`${output}: ${known.length} known, ${unknown.length} unknown` +
  (offset ? ` (unknown ids rebased by ${offset})` : ''))
