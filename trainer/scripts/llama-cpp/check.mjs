// llama.cpp (through node-llama-cpp) on a GGUF file, for the GGUF export tests: reads one JSON request from stdin,
// prints one JSON answer. Request: {model, lora: an adapter GGUF (optional), ids: [...] or prompt: "text with special
// tokens", logitsAt: [positions], generate: N, texts: [...]}.
// Answer: {logits: {position: [vocab floats]}, greedy: [ids], text: the greedy tokens decoded, tokens: [[ids per text]],
// tensorTypes: {name: ggml type id} and fileType: general.file_type, as node-llama-cpp reads the file's header}.
// LLAMA_CPP_HOME: where fetch-llama-cpp.sh installed node-llama-cpp (an ES module import ignores NODE_PATH)
const {getLlama} = await import(process.env.LLAMA_CPP_HOME + "/node_modules/node-llama-cpp/dist/index.js");

const request = JSON.parse(await new Promise(resolve => {
  let data = "";
  process.stdin.on("data", chunk => data += chunk);
  process.stdin.on("end", () => resolve(data));
}));
const llama = await getLlama({gpu: false, logLevel: "error"});
const model = await llama.loadModel({modelPath: request.model});
const contextOptions = {contextSize: 512, batchSize: 512, threads: 1};
if (request.lora) contextOptions.lora = {adapters: [{filePath: request.lora, scale: 1}]};
const context = await model.createContext(contextOptions);
const answer = {logits: {}, greedy: [], tokens: []};

if (request.prompt !== undefined) request.ids = Array.from(model.tokenize(request.prompt, true));
const positions = new Set(request.logitsAt ?? []);
const sequence = context.getSequence();
const input = request.ids.map((id, i) => positions.has(i) ? [id, {generateNext: {logits: true}}] : id);
const results = await sequence.controlledEvaluate(input);
for (const i of positions) {
  const logits = new Array(model.tokens.vocabularySize ?? 0);
  for (const [token, value] of results[i].next.logits) logits[token] = value;
  answer.logits[i] = logits;
}
if (request.generate > 0) {
  const fresh = await model.createContext(contextOptions);
  const greedy = fresh.getSequence();
  for await (const token of greedy.evaluate(request.ids, {temperature: 0})) {
    answer.greedy.push(token);
    if (answer.greedy.length >= request.generate) break;
  }
}
answer.text = model.detokenize(answer.greedy, false);
for (const text of request.texts ?? []) answer.tokens.push(Array.from(model.tokenize(text, false)));
answer.tensorTypes = Object.fromEntries((model.fileInfo.fullTensorInfo ?? []).map(t => [t.name, t.ggmlType]));
answer.fileType = model.fileInfo.metadata.general.file_type;
// exit only once the pipe took everything (a large answer is written asynchronously)
process.stdout.write(JSON.stringify(answer), () => process.exit(0));
