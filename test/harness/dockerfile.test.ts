import { describe, expect, it } from 'vitest';
import { DockerfileError, finalStage, parseDockerfile } from './dockerfile.ts';

const BUILD = 'FROM --platform=$BUILDPLATFORM node:26 AS build\nWORKDIR /src\nRUN npm run bundle:webhook\n';

describe('the Dockerfile reader of the image layout test', () => {
  it('reads the final stage: ARG into LABEL, ENV, WORKDIR, COPY flags, USER, EXPOSE, exec-form ENTRYPOINT', () => {
    const stages = parseDockerfile(
      [
        'ARG RUNTIME=gcr.io/distroless/nodejs26-debian13:nonroot',
        BUILD,
        'FROM ${RUNTIME}',
        'ARG VERSION=1.2.3',
        '# a comment',
        'LABEL org.opencontainers.image.version="${VERSION}" \\',
        '      org.opencontainers.image.title="a title"',
        'ENV NODE_ENV=production',
        'WORKDIR /app',
        'COPY --from=build --chown=65532:65532 /src/dist/a.mjs /src/dist/a.mjs.map /app/',
        'COPY --from=build ["/src/dist/b.mjs", "b.mjs"]',
        'USER 65532:65532',
        'EXPOSE 8443',
        'ENTRYPOINT ["/nodejs/bin/node", "/app/a.mjs"]',
      ].join('\n'),
    );
    expect(stages.map((stage) => [stage.image, stage.name])).toEqual([
      ['node:26', 'build'],
      ['gcr.io/distroless/nodejs26-debian13:nonroot', undefined],
    ]);
    expect(finalStage(stages)).toEqual({
      image: 'gcr.io/distroless/nodejs26-debian13:nonroot',
      workdir: '/app',
      user: '65532:65532',
      env: { NODE_ENV: 'production' },
      labels: { 'org.opencontainers.image.version': '1.2.3', 'org.opencontainers.image.title': 'a title' },
      exposed: ['8443'],
      copies: [
        { from: 'build', sources: ['/src/dist/a.mjs', '/src/dist/a.mjs.map'], destination: '/app/' },
        { from: 'build', sources: ['/src/dist/b.mjs'], destination: 'b.mjs' },
      ],
      entrypoint: ['/nodejs/bin/node', '/app/a.mjs'],
    });
  });

  it.each([
    { what: 'RUN in the final stage', lines: ['RUN npm ci', 'ENTRYPOINT ["node"]'], says: 'RUN' },
    { what: 'CMD in the final stage', lines: ['CMD ["a.mjs"]', 'ENTRYPOINT ["node"]'], says: 'CMD' },
    { what: 'a shell-form ENTRYPOINT', lines: ['ENTRYPOINT node a.mjs'], says: 'exec form' },
    { what: 'no ENTRYPOINT', lines: ['WORKDIR /app'], says: 'no ENTRYPOINT' },
    {
      what: 'a COPY flag it cannot follow',
      lines: ['COPY --parents a /b/', 'ENTRYPOINT ["node"]'],
      says: '--parents',
    },
  ])('refuses $what, so that the layout test fails rather than differ from the image', ({ lines, says }) => {
    const stages = parseDockerfile([BUILD, 'FROM base', ...lines].join('\n'));
    expect(() => finalStage(stages)).toThrow(DockerfileError);
    expect(() => finalStage(stages)).toThrow(says);
  });
});
