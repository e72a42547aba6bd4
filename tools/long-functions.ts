/**
 * `node -r tsx/cjs tools/long-functions.ts [--max 120] [dirs…]`: the product's functions by their own
 * length (lines of the function minus the lines of functions nested in it), longest first; exits 1
 * when one is over `--max`. Arrow functions and methods count; object literals of functions do not.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..');
// The product's folders, as the layer rules name them.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS config shared with ESLint
const DEFAULT_DIRS: readonly string[] = (require('../eslint.layers.cjs') as { PRODUCT: string[] }).PRODUCT;

interface Fn {
  file: string;
  name: string;
  line: number;
  own: number;
}

function files(p: string): string[] {
  if (!fs.existsSync(p)) return [];
  if (fs.statSync(p).isFile()) return p.endsWith('.ts') ? [p] : [];
  return fs.readdirSync(p).flatMap((e) => files(path.join(p, e)));
}

function nameOf(node: ts.Node): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name) return node.name.getText();
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText();
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  return '(anonymous)';
}

function measure(file: string): Fn[] {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const lines = (n: ts.Node) =>
    src.getLineAndCharacterOfPosition(n.getEnd()).line - src.getLineAndCharacterOfPosition(n.getStart()).line + 1;
  const out: Fn[] = [];
  const visit = (node: ts.Node, into: Fn | null): void => {
    let here = into;
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const fn: Fn = {
        file: path.relative(ROOT, file),
        name: nameOf(node),
        line: src.getLineAndCharacterOfPosition(node.getStart()).line + 1,
        own: lines(node),
      };
      if (into) into.own -= fn.own;
      out.push(fn);
      here = fn;
    }
    ts.forEachChild(node, (c) => visit(c, here));
  };
  visit(src, null);
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const i = args.indexOf('--max');
  const max = i >= 0 ? Number(args[i + 1]) : 120;
  const dirs = args.filter((_a, j) => i < 0 || (j !== i && j !== i + 1));
  const fns = (dirs.length ? dirs : DEFAULT_DIRS)
    .flatMap((d) => files(path.join(ROOT, d)))
    .flatMap(measure)
    .sort((a, b) => b.own - a.own);
  for (const f of fns.slice(0, 15)) console.log(`${String(f.own).padStart(5)}  ${f.file}:${f.line}  ${f.name}`);
  const over = fns.filter((f) => f.own > max);
  console.log(over.length ? `${over.length} function(s) over ${max} lines` : `no function over ${max} lines`);
  process.exitCode = over.length ? 1 : 0;
}

main();
