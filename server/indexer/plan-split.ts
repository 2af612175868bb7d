// When Postgres refuses a batch for its data, the writer halves the plan until the refused write stands alone and
// can be kept as a reject. The plan is split, not the batch's items: validation and row mapping (prepare.ts) ran
// once and are not repeated on every split. The unindexed counts are no part of a split: they are counted once, in
// the transaction that ends the batch (writer.ts).
import type { DeleteWrite, PositionWrites, RejectRow, RowWrite, TableWrites, WritePlan } from './prepare.js'
import type { RecordModule } from './records/types.js'
import { boundedDetail } from './detail.js'

type Unit =
  | { kind: 'did'; did: string }
  | { kind: 'handle'; value: WritePlan['handles'][number] }
  | { kind: 'status'; value: WritePlan['statuses'][number] }
  | { kind: 'upsert'; module: RecordModule; row: RowWrite }
  | { kind: 'delete'; module: RecordModule; row: DeleteWrite }
  | { kind: 'position'; value: PositionWrites }
  | { kind: 'reject'; value: RejectRow }

function units(plan: WritePlan): Unit[] {
  return [
    ...plan.dids.map((did): Unit => ({ kind: 'did', did })),
    ...plan.handles.map((value): Unit => ({ kind: 'handle', value })),
    ...plan.statuses.map((value): Unit => ({ kind: 'status', value })),
    ...plan.tables.flatMap((t) => [
      ...t.deletes.map((row): Unit => ({ kind: 'delete', module: t.module, row })),
      ...t.upserts.map((row): Unit => ({ kind: 'upsert', module: t.module, row })),
    ]),
    ...plan.positions.map((value): Unit => ({ kind: 'position', value })),
    ...plan.rejects.map((value): Unit => ({ kind: 'reject', value })),
  ]
}

/** Units keep their relative order, so each half stays de-duplicated and sorted by key as prepare.ts made it. */
function planOf(list: Unit[]): WritePlan {
  const plan: WritePlan = { dids: [], handles: [], statuses: [], tables: [], unindexed: [], span: null, positions: [], rejects: [] }
  const tables = new Map<string, TableWrites>()
  const tableFor = (module: RecordModule) => {
    let t = tables.get(module.table)
    if (!t) {
      tables.set(module.table, (t = { module, upserts: [], deletes: [] }))
      plan.tables.push(t)
    }
    return t
  }
  for (const u of list) {
    if (u.kind === 'did') plan.dids.push(u.did)
    else if (u.kind === 'handle') plan.handles.push(u.value)
    else if (u.kind === 'status') plan.statuses.push(u.value)
    else if (u.kind === 'upsert') tableFor(u.module).upserts.push(u.row)
    else if (u.kind === 'delete') tableFor(u.module).deletes.push(u.row)
    else if (u.kind === 'position') plan.positions.push(u.value)
    else plan.rejects.push(u.value)
  }
  return plan
}

export function planSize(plan: WritePlan): number {
  return units(plan).length
}

/** Two halves of a plan with more than one write in it. */
export function splitPlan(plan: WritePlan): [WritePlan, WritePlan] {
  const list = units(plan)
  const half = Math.ceil(list.length / 2)
  return [planOf(list.slice(0, half)), planOf(list.slice(half))]
}

/** The reject that stands in for the one write of `plan` that Postgres refused. */
export function refusedWriteReject(plan: WritePlan, message: string, lastSeq: number | null): RejectRow {
  const [u] = units(plan)
  const reason = `database refused the record: ${message}`
  const base = { seqKnown: true, category: 'record' as const, reason }
  switch (u?.kind) {
    case 'upsert':
      return { ...base, seq: u.row.seq, did: u.row.did, uri: u.row.uri, collection: u.module.collection, detail: boundedDetail(u.row.record) }
    case 'delete':
      return { ...base, seq: u.row.seq, did: u.row.did, uri: u.row.uri, collection: u.module.collection, detail: null }
    case 'handle':
    case 'status':
      return { ...base, seq: u.value.seq, did: u.value.did, uri: null, collection: null, detail: boundedDetail(u.value) }
    case 'did':
      return { ...base, seq: lastSeq, seqKnown: false, did: null, uri: null, collection: null, detail: boundedDetail(u.did) }
    case 'position': {
      const seq = Math.max(...u.value.events.map((e) => e.seq))
      return { ...base, seq, did: u.value.did, uri: null, collection: null, detail: boundedDetail(u.value.events) }
    }
    case 'reject':
    case undefined:
      // A reject row that cannot be stored has nothing smaller to fall back to: the caller fails loudly.
      throw new Error(`database refused a reject row: ${message}`)
  }
}
