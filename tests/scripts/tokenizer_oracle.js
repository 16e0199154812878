// tokenizer_oracle.js - reference ids from Hugging Face tokenizers itself
// (the npm package "tokenizers", the Rust library's Node binding): reads
// JSON strings, one per line, and prints each text's ids as a JSON array,
// truncated to MAX_LENGTH tokens as sentence-transformers does.
// usage: node tokenizer_oracle.js TOKENIZER_JSON MAX_LENGTH < texts.jsonl
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const tok = Tokenizer.fromFile(process.argv[2]);
tok.setTruncation(parseInt(process.argv[3], 10));
const lines = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l.length > 0);
(async () => {
  const out = [];
  for (const l of lines) {
    const e = await tok.encode(JSON.parse(l));
    out.push('[' + e.getIds().join(',') + ']');
  }
  process.stdout.write(out.join('\n') + '\n');
})();
