// Writes a small concept catalog in the reference's parquet layout (global
// ids: known first, then discovered; snappy-compressed pages, as pandas
// writes them) with hyparquet-writer, an implementation independent of the
// reader the converter uses.
import { parquetWriteFile } from 'hyparquet-writer'

parquetWriteFile({
  filename: process.argv[2],
  columnData: [
    { name: 'concept_id', data: [0n, 1n, 2n, 3n, 4n, 5n], type: 'INT64' },
    { name: 'head', data: ['known', 'known', 'known', 'known', 'unknown', 'unknown'], type: 'STRING' },
    { name: 'concept_name', data: ['weapons', 'poison', 'refusal', 'polite tone', 'discovered 0', 'discovered 1'], type: 'STRING' },
    { name: 'concept_description', data: ['Weapons, arms', 'Chemical "agents"', '', '', '', ''], type: 'STRING' },
  ],
})
