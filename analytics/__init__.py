"""Pure PySpark transforms: DataFrame in, DataFrame out. No Prefect imports here."""
