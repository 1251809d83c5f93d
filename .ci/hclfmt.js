// Formats standard input with HashiCorp's hclwrite (the formatter of `terraform fmt`), as the
// npm package @cdktf/hcl-tools builds it to WebAssembly; prints the result.
const { format } = require("./node_modules/@cdktf/hcl-tools");
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", async () => process.stdout.write(await format(input)));
