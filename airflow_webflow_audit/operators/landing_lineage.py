"""The landing operator's OpenLineage facets: the workspace's endpoint in, the landed objects out.

The OpenLineage provider is imported only in here, when a listener asks, so the provider works
without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_webflow_audit.landing.formats import has_schema
from airflow_webflow_audit.lineage import dataset_name, endpoint_dataset_name

if TYPE_CHECKING:
    from airflow_webflow_audit.landing.writer import LandedPart


def landing_lineage(
    *,
    base_url: str,
    workspace: str,
    landed: Sequence[LandedPart],
    file_format: str,
) -> Any:
    """The landing's ``OperatorLineage``: the endpoint in; each object landed out, with its row count and size.

    A task landing several windows names each part it wrote, in window order. Nothing landed (the task
    failed, or the windows held nothing new): only the input. Parquet objects carry their schema.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    namespace, name = endpoint_dataset_name(base_url, workspace)
    outputs = []
    schema = _parquet_schema_facet() if has_schema(file_format) and landed else None
    for part in landed:
        out_namespace, out_name = dataset_name(part.path)
        facets: dict[str, Any] = {} if schema is None else {"schema": schema}
        outputs.append(
            OutputDataset(
                namespace=out_namespace,
                name=out_name,
                facets=facets,
                outputFacets={
                    "outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=part.records, size=part.size_bytes)
                },
            )
        )
    return OperatorLineage(inputs=[InputDataset(namespace=namespace, name=name)], outputs=outputs)


def _parquet_schema_facet() -> Any:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields

    from airflow_webflow_audit.landing.formats import parquet_schema

    return SchemaDatasetFacet(
        fields=[SchemaDatasetFacetFields(name=field.name, type=str(field.type)) for field in parquet_schema()]
    )
