// SPDX-License-Identifier: GPL-2.0-or-later
// lint: the ArkTS rules the HarmonyOS compiler enforces on top of TypeScript, as far as
// an AST walk (and, for one rule, the type checker) can tell, over the .ets files under
// a root. The rules and their ids are those of "TypeScript to ArkTS Cookbook"
// (https://gitcode.com/openharmony/docs/blob/master/en/application-dev/quick-start/typescript-to-arkts-migration-guide.md;
// the linter's recipes: https://gitcode.com/openharmony/arkcompiler_ets_frontend/blob/master/ets2panda/linter/docs/rules/recipe40.md).
// Only a subset: what needs no whole-program reasoning. SDK declarations are not linted.
//
// usage: node lint.mjs OUT_DIR   (prepared by gen-tsconfig.mjs)
//        -> FILE:LINE:COL: rule-id: message per problem; exit 1 when there is one
import { createRequire } from 'node:module';
import path from 'node:path';
import { sourcePathFor } from './report-path.mjs';

const require = createRequire(import.meta.url);
const ts = require('ohos-typescript');
const K = ts.SyntaxKind;

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node lint.mjs OUT_DIR');
  process.exit(2);
}
const configFile = path.join(outDir, 'tsconfig.json');
const root = path.resolve(outDir, 'ets');
const read = ts.readConfigFile(configFile, ts.sys.readFile);
const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(path.resolve(configFile)));
const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
const checker = program.getTypeChecker();

const problems = [];
function report(sf, node, rule, msg) {
  const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
  problems.push(`${sourcePathFor(outDir, sf.fileName)}:${line + 1}:${character + 1}: ${rule}: ${msg}`);
}

const declaredInLib = (decls) => (decls || []).some((d) => {
  const f = d.getSourceFile().fileName;
  return f.endsWith('.d.ts') || f.endsWith('.d.ets');
});

// An object literal must be typed by a declared class or interface (or Record<K, V>),
// else ArkTS cannot give it a fixed layout (arkts-no-untyped-obj-literals). Types the SDK
// declares (ArkUI attribute types such as Margin) are taken as they are.
function typedByDeclaration(type) {
  if (!type) return false;
  if (type.isUnion()) return type.types.some(typedByDeclaration);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return false;
  if (type.aliasSymbol && (type.aliasSymbol.name === 'Record' || declaredInLib(type.aliasSymbol.declarations))) return true;
  const sym = type.getSymbol();
  if (!sym) return false;
  if (sym.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface)) return true;
  return declaredInLib(sym.declarations);
}

function inForHeader(node) {
  const p = node.parent;
  return p && (p.kind === K.ForStatement) && (p.initializer === node || p.incrementor === node);
}

function visit(sf, node) {
  // zero-width nodes were made by the ArkTS front end (struct -> class), not written
  if (node.pos >= 0 && node.end > node.pos) check(sf, node);
  ts.forEachChild(node, (child) => visit(sf, child));
}

function check(sf, node) {
  switch (node.kind) {
    case K.AnyKeyword:
    case K.UnknownKeyword:
      if (node.parent && node.parent.kind !== K.ExpressionWithTypeArguments) {
        report(sf, node, 'arkts-no-any-unknown', 'use an explicit type, not any/unknown');
      }
      break;
    case K.TypeLiteral:
      report(sf, node, 'arkts-no-obj-literals-as-types', 'declare a class or interface instead of an object literal type');
      break;
    case K.VariableDeclarationList:
      if (!(node.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const))) {
        report(sf, node, 'arkts-no-var', 'use let or const, not var');
      }
      break;
    case K.ObjectBindingPattern:
    case K.ArrayBindingPattern:
      report(sf, node, node.parent && node.parent.kind === K.Parameter ? 'arkts-no-destruct-params' : 'arkts-no-destruct-decls',
        'destructuring is not supported');
      break;
    case K.BinaryExpression:
      if (node.operatorToken.kind === K.EqualsToken &&
          (node.left.kind === K.ObjectLiteralExpression || node.left.kind === K.ArrayLiteralExpression)) {
        report(sf, node, 'arkts-no-destruct-assignment', 'destructuring assignment is not supported');
      } else if (node.operatorToken.kind === K.InKeyword) {
        report(sf, node, 'arkts-no-in', "the 'in' operator is not supported");
      } else if (node.operatorToken.kind === K.CommaToken && !inForHeader(node)) {
        report(sf, node, 'arkts-no-comma-outside-loops', 'the comma operator is only for for-loop headers');
      }
      break;
    case K.ForInStatement:
      report(sf, node, 'arkts-no-for-in', 'for..in is not supported');
      break;
    case K.IndexSignature:
      report(sf, node, 'arkts-no-indexed-signatures', 'index signatures are not supported (use arrays or Map)');
      break;
    case K.FunctionExpression:
      report(sf, node, 'arkts-no-func-expressions', 'use an arrow function');
      if (node.asteriskToken) report(sf, node, 'arkts-no-generators', 'generators are not supported');
      break;
    case K.FunctionDeclaration:
    case K.MethodDeclaration:
      if (node.asteriskToken) report(sf, node, 'arkts-no-generators', 'generators are not supported');
      break;
    case K.DeleteExpression:
      report(sf, node, 'arkts-no-delete', 'delete is not supported (object layout is fixed)');
      break;
    case K.WithStatement:
      report(sf, node, 'arkts-no-with', 'with is not supported');
      break;
    case K.TypeQuery:
      report(sf, node, 'arkts-no-type-query', 'typeof in a type is not supported');
      break;
    case K.IntersectionType:
      report(sf, node, 'arkts-no-intersection-types', 'intersection types are not supported');
      break;
    case K.ConditionalType:
      report(sf, node, 'arkts-no-conditional-types', 'conditional types are not supported');
      break;
    case K.MappedType:
      report(sf, node, 'arkts-no-mapped-types', 'mapped types are not supported');
      break;
    case K.ClassExpression:
      report(sf, node, 'arkts-no-class-literals', 'class expressions are not supported');
      break;
    case K.CallSignature:
      report(sf, node, 'arkts-no-call-signatures', 'use a function type');
      break;
    case K.ConstructSignature:
      report(sf, node, 'arkts-no-ctor-signatures-type', 'construct signatures are not supported');
      break;
    case K.SpreadAssignment:
      report(sf, node, 'arkts-no-spread', 'object spread is not supported');
      break;
    case K.ImportEqualsDeclaration:
      report(sf, node, 'arkts-no-require', 'use import, not import = require');
      break;
    case K.Identifier:
      if (node.escapedText === 'globalThis') report(sf, node, 'arkts-no-globalthis', 'globalThis is not supported');
      break;
    case K.CallExpression:
      if (node.expression.kind === K.Identifier && node.expression.escapedText === 'Symbol') {
        report(sf, node, 'arkts-no-symbol', 'Symbol() is not supported');
      }
      if (node.expression.kind === K.Identifier && node.expression.escapedText === 'require') {
        report(sf, node, 'arkts-no-require', 'require() is not supported');
      }
      break;
    case K.ObjectLiteralExpression:
      if (!typedByDeclaration(checker.getContextualType(node))) {
        report(sf, node, 'arkts-no-untyped-obj-literals', 'an object literal must have a declared class or interface type');
      }
      break;
  }
}

let files = 0;
for (const sf of program.getSourceFiles()) {
  const f = path.resolve(sf.fileName);
  if (!f.startsWith(root + path.sep) || !f.endsWith('.ets') || f.endsWith('.d.ets')) continue;
  files++;
  // arkts-strict-typing-required: no comments that switch the type checker off
  const re = /@ts-(ignore|nocheck|expect-error)/g;
  let m;
  while ((m = re.exec(sf.text)) !== null) {
    const { line, character } = sf.getLineAndCharacterOfPosition(m.index);
    problems.push(`${sourcePathFor(outDir, sf.fileName)}:${line + 1}:${character + 1}: arkts-strict-typing-required: @ts-${m[1]} is not allowed`);
  }
  visit(sf, sf);
}
for (const p of problems) console.log(p);
console.log(`lint: ${files} .ets files, ${problems.length} problems`);
process.exit(files === 0 ? 2 : (problems.length ? 1 : 0));
